// Scoped tensor lifetimes: tensors made inside tidy() are disposed when it returns, except the
// ones it returns (or keep()s). Model forwards use this so intermediates never outlive a call.

export interface Disposable {
  dispose(): void;
  readonly disposed: boolean;
}

const stack: Set<Disposable>[] = [];

/** Called by Tensor's constructor. */
export function track(t: Disposable): void {
  const top = stack[stack.length - 1];
  if (top) top.add(t);
}

/** Removes `t` from the innermost scope so it survives it (and is owned by the caller). */
export function keep<T extends Disposable>(t: T): T {
  for (let i = stack.length - 1; i >= 0; i--) if (stack[i].delete(t)) break;
  return t;
}

function collect(value: unknown, out: Set<Disposable>, depth = 0): void {
  if (value == null || depth > 4) return;
  if (typeof value === 'object' && 'dispose' in value && 'disposed' in value) {
    out.add(value as Disposable);
  } else if (Array.isArray(value)) {
    for (const v of value) collect(v, out, depth + 1);
  } else if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collect(v, out, depth + 1);
  }
}

function close<T>(scope: Set<Disposable>, result: T): T {
  const kept = new Set<Disposable>();
  collect(result, kept);
  stack.pop();
  const parent = stack[stack.length - 1];
  for (const t of scope) {
    if (kept.has(t)) parent?.add(t);
    else t.dispose();
  }
  return result;
}

/** Runs fn; disposes every tensor it created except those reachable from its result. */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Disposable>();
  stack.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    close(scope, undefined);
    throw e;
  }
  return close(scope, result);
}

/** Async form of tidy(); the scope stays open across awaits, so do not interleave two of them. */
export async function tidyAsync<T>(fn: () => Promise<T>): Promise<T> {
  const scope = new Set<Disposable>();
  stack.push(scope);
  let result: T;
  try {
    result = await fn();
  } catch (e) {
    close(scope, undefined);
    throw e;
  }
  return close(scope, result);
}
