// The iteration order of a CPython set of non-negative ints built by adding `ids` one by one
// (Objects/setobject.c: hash(i) = i, open addressing with 9 linear probes then perturbed jumps,
// table of 8 slots grown to the smallest power of two above 4x the entries once 3/5 full). Upstream
// picks the language field's first token with torch.argmax over `list(set)`, so on tied logits the
// winner is the first of the tie in this order, not in the order the values were listed.

const MIN_SIZE = 8;
const LINEAR_PROBES = 9;
const PERTURB_SHIFT = 5n;

/** Slot of `id` in `table` (mask = length - 1), probing like set_insert_clean / set_add_entry. */
function freeSlot(table: (number | null)[], id: number): number {
  const mask = table.length - 1;
  let perturb = BigInt(id);
  let i = id & mask;
  for (;;) {
    const probes = i + LINEAR_PROBES <= mask ? LINEAR_PROBES : 0;
    for (let j = 0; j <= probes; j++) if (table[i + j] === null) return i + j;
    perturb >>= PERTURB_SHIFT;
    i = Number((BigInt(i) * 5n + 1n + perturb) & BigInt(mask));
  }
}

/** `list(s)` for `s = set(); [s.add(i) for i in ids]` (ids are non-negative ints below 2^53). */
export function pythonSetOrder(ids: Iterable<number>): number[] {
  let table: (number | null)[] = new Array(MIN_SIZE).fill(null);
  let used = 0;
  for (const id of ids) {
    if (!Number.isSafeInteger(id) || id < 0) throw new RangeError(`pythonSetOrder: ${id} is not a non-negative int`);
    if (table.includes(id)) continue;
    table[freeSlot(table, id)] = id;
    used++;
    const mask = table.length - 1;
    if (used * 5 >= mask * 3) {
      let size = MIN_SIZE;
      while (size <= used * 4) size *= 2;
      const old = table;
      table = new Array(size).fill(null);
      for (const v of old) if (v !== null) table[freeSlot(table, v)] = v;
    }
  }
  return table.filter((v): v is number => v !== null);
}
