// Glance v2 at /image: images, their data (filesystem store under <dataDir>/images, or a vSphere
// datastore with VISTACK_IMAGE_STORE=vsphere), members, tags, the interoperable import
// (glance-direct) and schemas, with Glance's policies and error format. Other services use it
// in-process through ctx.services.image (ImageApi).
import { join } from 'node:path';
import { PermanentError } from '../core/tasks.ts';
import type { Context, ServiceModule } from '../core/service.ts';
import type { ImageApi } from './api.ts';
import { migrations } from './db.ts';
import { GLANCE_POLICY } from './policy.ts';
import { imageRoutes } from './routes.ts';
import { seedImages } from './seed.ts';
import { ImageService, ImportFailed } from './service.ts';
import { FileStore, StagingArea, type Store } from './store.ts';
import { DatastoreStore, RoutedStore } from './datastore_store.ts';

const services = new WeakMap<Context, ImageService>();

/** The image service of a running cloud (tests and tools reach past HTTP with it). */
export const imageService = (ctx: Context): ImageService => {
  const s = services.get(ctx);
  if (!s) throw new Error('image module not initialised');
  return s;
};

function imageApi(svc: ImageService): ImageApi {
  return {
    get: (id, auth) => svc.get(id, auth),
    open: (id) => svc.open(id),
    create: (auth, fields) => svc.createImage(auth, fields),
    upload: (id, data, formats) => svc.uploadData(id, data, formats),
    delete: (id) => svc.remove(id),
    list: (auth, query) => svc.listRecords(auth, query),
    updateProperties: (id, auth, change) => svc.updateProperties(auth, id, change),
    deleteAs: (id, auth) => svc.deleteImage({ auth }, id),
  };
}

/** image_size_cap, from VISTACK_IMAGE_SIZE_CAP (bytes); Glance's default is 1 TiB. */
function sizeCap(): number | undefined {
  const v = process.env.VISTACK_IMAGE_SIZE_CAP;
  return v && /^\d+$/.test(v) ? Number(v) : undefined;
}

/**
 * The store new images go to (VISTACK_IMAGE_STORE: "file", the default, or "vsphere"). Existing
 * data is read and deleted by its location's scheme, so switching stores keeps old images.
 */
function createStore(ctx: Context, files: FileStore): Store {
  const kind = process.env.VISTACK_IMAGE_STORE || 'file';
  const sessions = ctx.vcenters;
  const datastores = sessions.length ? new DatastoreStore(sessions) : null;
  switch (kind) {
    case 'file':
      return new RoutedStore(files, datastores ? [datastores] : []);
    case 'vsphere':
      if (!datastores) {
        throw new Error(`VISTACK_IMAGE_STORE=vsphere keeps images on a vCenter datastore and needs VISTACK_DRIVER=vsphere (the ${ctx.config.driver} driver has no vCenter)`);
      }
      datastores.check();
      return new RoutedStore(datastores, [files]);
    default:
      throw new Error(`VISTACK_IMAGE_STORE=${kind} is not an image store (use "file" or "vsphere")`);
  }
}

export const image: ServiceModule = {
  name: 'image',
  prefix: '/image',
  migrations,
  policy: GLANCE_POLICY,
  catalog: [{ type: 'image', name: 'glance', path: '/image' }],

  async init(ctx: Context) {
    const root = join(ctx.config.dataDir, 'images');
    const cap = sizeCap();
    const svc = new ImageService(ctx, createStore(ctx, new FileStore(root)), new StagingArea(join(root, 'staging')), cap ? { sizeCap: cap } : {});
    services.set(ctx, svc);
    ctx.services.image = imageApi(svc);
    ctx.tasks.register('image.import', {
      async run(task) {
        try {
          await svc.runImport(task.payload.imageId, task.payload.taskId);
        } catch (e) {
          if (e instanceof ImportFailed) throw new PermanentError(e.message);
          throw e;
        }
      },
      async onFailure(task, err) {
        await svc.failImport(task.payload.imageId, task.payload.taskId, err instanceof Error ? err.message : String(err));
      },
    });
  },

  async routes(app, ctx) {
    await imageRoutes(app, ctx, imageService(ctx));
  },

  async seed(ctx) {
    if (ctx.config.seed) await seedImages(ctx, imageService(ctx));
  },

  async start(ctx) {
    const svc = imageService(ctx);
    // A vCenter that is briefly unreachable must not stop the cloud: leftovers wait for the next start.
    await (svc.store as RoutedStore).cleanTemporary().catch((e) => ctx.log.warn('image store: removing temporary files failed', e));
    await svc.staging.cleanTemporary();
    await svc.recover();
  },
};
