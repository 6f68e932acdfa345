// The page's lists in localStorage (jobs in flight, song history): JSON arrays read defensively,
// since another version of the page or the user may have left anything under the key.
export function readList<T>(key: string, valid: (x: unknown) => boolean): T[] {
  try {
    const v: unknown = JSON.parse(localStorage.getItem(key) ?? '[]');
    return Array.isArray(v) ? (v.filter(valid) as T[]) : [];
  } catch {
    return [];
  }
}

export function writeList<T>(key: string, list: T[]): void {
  localStorage.setItem(key, JSON.stringify(list));
}
