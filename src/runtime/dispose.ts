// Scoped lifetimes. Tensor implements Symbol.dispose, so code says `using t = ...` and the tensor
// is freed when the block ends, however it ends. DisposableStack collects what a constructor builds
// so that a failure part-way frees the parts already built:
//
//   using stack = new DisposableStack();
//   this.a = stack.use(new Linear(...));
//   this.b = stack.use(new Linear(...));
//   stack.move(); // built: the object owns its parts now
//
// Node 20 has Symbol.dispose but not the TC39 DisposableStack, so this is the subset of that class
// we use; `use` also takes the objects of this codebase that only have a dispose() method.

/** Anything freed by `[Symbol.dispose]()` or `dispose()`. */
export type DisposableLike = Disposable | { dispose(): void };

function disposerOf(v: DisposableLike): () => void {
  const sym = (v as Partial<Disposable>)[Symbol.dispose];
  if (typeof sym === 'function') return () => sym.call(v);
  return () => (v as { dispose(): void }).dispose();
}

/** A stack of cleanups run in reverse order of registration (TC39 DisposableStack subset). */
export class DisposableStack implements Disposable {
  #stack: (() => void)[] = [];
  #disposed = false;

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Registers `value` (null/undefined are skipped) and returns it. */
  use<T extends DisposableLike | null | undefined>(value: T): T {
    this.#check();
    if (value !== null && value !== undefined) this.#stack.push(disposerOf(value));
    return value;
  }

  /** Registers `onDispose(value)` and returns `value`. */
  adopt<T>(value: T, onDispose: (value: T) => void): T {
    this.#check();
    this.#stack.push(() => onDispose(value));
    return value;
  }

  /** Registers a cleanup callback. */
  defer(onDispose: () => void): void {
    this.#check();
    this.#stack.push(onDispose);
  }

  /** Hands every registered cleanup to a new stack and leaves this one disposed and empty. */
  move(): DisposableStack {
    this.#check();
    const next = new DisposableStack();
    next.#stack = this.#stack;
    this.#stack = [];
    this.#disposed = true;
    return next;
  }

  /** Runs the cleanups, last registered first; the first error is rethrown after all have run. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    const stack = this.#stack;
    this.#stack = [];
    let failed = false;
    let first: unknown;
    for (let i = stack.length - 1; i >= 0; i--) {
      try {
        stack[i]();
      } catch (e) {
        if (!failed) first = e;
        failed = true;
      }
    }
    if (failed) throw first;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  #check(): void {
    if (this.#disposed) throw new ReferenceError('DisposableStack already disposed');
  }
}
