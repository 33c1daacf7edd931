// Runs bcrypt off the main thread (bcryptjs is pure JavaScript: ~0.4 s per hash at cost 12).
import { parentPort } from 'node:worker_threads';
import bcrypt from 'bcryptjs';

interface Job { id: number; op: 'hash' | 'verify'; password: string; hash?: string; rounds?: number }

parentPort!.on('message', (job: Job) => {
  try {
    const result = job.op === 'hash'
      ? bcrypt.hashSync(job.password, job.rounds ?? 12)
      : bcrypt.compareSync(job.password, job.hash ?? '');
    parentPort!.postMessage({ id: job.id, result });
  } catch (e) {
    parentPort!.postMessage({ id: job.id, error: e instanceof Error ? e.message : String(e) });
  }
});
