/** A FIFO async mutex. */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();
  private held = 0;
  get locked() { return this.held > 0; }
  run<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    this.held++;
    return prev.then(fn).finally(() => { this.held--; release(); });
  }
}
