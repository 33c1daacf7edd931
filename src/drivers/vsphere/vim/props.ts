// PropertyCollector reads: many objects' properties in one round trip, through a container view
// (every object of a type under a folder, datacenter or cluster) or for a given list of objects.
// Results come back as one flat record per object: { ref, props: { 'summary.hardware': … } }.
import type { VimClient } from './client.ts';
import { isFault } from './client.ts';
import type { MoRef, ObjectContent, ObjectSpec, PropertySpec, RetrieveResult, TraversalSpec } from './types.ts';
import { asArray } from './xml.ts';

export interface Retrieved<P> { ref: MoRef; props: Partial<P> }

function flatten<P>(oc: ObjectContent): Retrieved<P> {
  const props: Record<string, unknown> = {};
  for (const p of asArray(oc.propSet)) props[p.name] = p.val;
  return { ref: oc.obj, props: props as Partial<P> };
}

/** RetrievePropertiesEx with ContinueRetrievePropertiesEx paging (vcsim answers in one page). */
export async function retrieve<P>(client: VimClient, propSet: PropertySpec[], objectSet: ObjectSpec[]): Promise<Retrieved<P>[]> {
  const pc = client.content.propertyCollector;
  const out: Retrieved<P>[] = [];
  let res = await client.call<RetrieveResult | undefined>('RetrievePropertiesEx', pc, {
    specSet: { propSet, objectSet }, options: { maxObjects: 1000 },
  });
  for (;;) {
    for (const oc of asArray(res?.objects)) out.push(flatten<P>(oc));
    if (!res?.token) return out;
    res = await client.call<RetrieveResult | undefined>('ContinueRetrievePropertiesEx', pc, { token: res.token });
  }
}

/** Properties of every object of `type` under `container` (recursively). */
export async function listObjects<P>(client: VimClient, container: MoRef, type: string, paths: (keyof P & string)[]): Promise<Retrieved<P>[]> {
  const view = await client.call<MoRef>('CreateContainerView', client.content.viewManager!, { container, type: [type], recursive: true });
  try {
    return await retrieve<P>(client, [{ type, pathSet: paths }], [{
      obj: view, skip: true,
      selectSet: [{ _type: 'TraversalSpec', name: 'view', type: 'ContainerView', path: 'view', skip: false } as TraversalSpec],
    }]);
  } finally {
    void client.call('DestroyView', view).catch(() => undefined);
  }
}

/** Properties of the given objects (all of one type); objects that no longer exist are left out. */
export async function getMany<P>(client: VimClient, refs: MoRef[], paths: (keyof P & string)[]): Promise<Retrieved<P>[]> {
  if (!refs.length) return [];
  try {
    return await retrieve<P>(client, [{ type: refs[0]!.type, pathSet: paths }], refs.map((obj) => ({ obj })));
  } catch (e) {
    // One vanished object fails the whole read: read them one by one then.
    if (!isFault(e, 'ManagedObjectNotFound') || refs.length === 1) {
      if (isFault(e, 'ManagedObjectNotFound')) return [];
      throw e;
    }
    const out: Retrieved<P>[] = [];
    for (const r of refs) out.push(...await getMany<P>(client, [r], paths));
    return out;
  }
}

/** Properties of one object, or null when it no longer exists. */
export async function get<P>(client: VimClient, ref: MoRef, paths: (keyof P & string)[]): Promise<Partial<P> | null> {
  const [r] = await getMany<P>(client, [ref], paths);
  return r ? r.props : null;
}
