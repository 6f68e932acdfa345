// The CoT metadata block the LM reads and writes: `<think>\n{yaml}\n</think>`, emitted exactly as
// PyYAML's yaml.dump(allow_unicode=True, sort_keys=True) would for this flat mapping of scalars:
// plain scalars when they are safe, single quotes otherwise, folding at a space once the column
// passes 80 with a 2-space continuation indent (UPSTREAM.md: CoT YAML).

export type CotValue = string | number | boolean | null | undefined;

const BEST_WIDTH = 80;
const INDENT = 2;
const BREAKS = '\n\x85\u2028\u2029';

// YAML 1.1 implicit resolvers of PyYAML: a plain scalar matching one of these would read back as
// another type, so it must be quoted.
const IMPLICIT: RegExp[] = [
  /^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/,
  /^[-+]?(?:0b[0-1_]+|0[0-7_]+|(?:0|[1-9][0-9_]*)|0x[0-9a-fA-F_]+|[1-9][0-9_]*(?::[0-5]?[0-9])+)$/,
  /^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/,
  /^(?:~|null|Null|NULL|)$/,
  /^(?:<<)$/,
  /^(?:=)$/,
  /^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)?)$/,
];

interface Analysis {
  multiline: boolean;
  allowBlockPlain: boolean;
  allowSingleQuoted: boolean;
}

// PyYAML's Emitter.analyze_scalar, for block context.
function analyze(s: string): Analysis {
  if (s.length === 0) return { multiline: false, allowBlockPlain: false, allowSingleQuoted: true };
  let blockIndicators = false;
  let lineBreaks = false;
  let special = false;
  let leadingSpace = false,
    leadingBreak = false,
    trailingSpace = false,
    trailingBreak = false;
  let breakSpace = false,
    spaceBreak = false;
  let precededByWhitespace = true;
  let previousSpace = false,
    previousBreak = false;
  const chars = [...s];
  if (s.startsWith('---') || s.startsWith('...')) blockIndicators = true;
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i];
    const next = chars[i + 1];
    const followedByWhitespace = next === undefined || ' \t\0\r\n\x85\u2028\u2029'.includes(next);
    if (i === 0) {
      if ('#,[]{}&*!|>\'"%@`'.includes(ch)) blockIndicators = true;
      if ((ch === '?' || ch === ':') && followedByWhitespace) blockIndicators = true;
      if (ch === '-' && followedByWhitespace) blockIndicators = true;
    } else {
      if (ch === ':' && followedByWhitespace) blockIndicators = true;
      if (ch === '#' && precededByWhitespace) blockIndicators = true;
    }
    if (BREAKS.includes(ch)) lineBreaks = true;
    const code = ch.codePointAt(0)!;
    const printable =
      ch === '\n' ||
      ch === '\x85' ||
      (code >= 0x20 && code <= 0x7e) ||
      (code >= 0xa0 && code <= 0xd7ff) ||
      (code >= 0xe000 && code <= 0xfffd && code !== 0xfeff) ||
      (code >= 0x10000 && code < 0x110000);
    if (!printable) special = true;
    if (ch === ' ') {
      if (i === 0) leadingSpace = true;
      if (i === chars.length - 1) trailingSpace = true;
      if (previousBreak) breakSpace = true;
      previousSpace = true;
      previousBreak = false;
    } else if (BREAKS.includes(ch)) {
      if (i === 0) leadingBreak = true;
      if (i === chars.length - 1) trailingBreak = true;
      if (previousSpace) spaceBreak = true;
      previousSpace = false;
      previousBreak = true;
    } else {
      previousSpace = false;
      previousBreak = false;
    }
    precededByWhitespace = ' \t\0\r\n\x85\u2028\u2029'.includes(ch);
  }
  let allowBlockPlain = true;
  let allowSingleQuoted = true;
  if (leadingSpace || leadingBreak || trailingSpace || trailingBreak) allowBlockPlain = false;
  if (breakSpace) {
    allowBlockPlain = false;
    allowSingleQuoted = false;
  }
  if (spaceBreak || special) {
    allowBlockPlain = false;
    allowSingleQuoted = false;
  }
  if (lineBreaks) allowBlockPlain = false;
  if (blockIndicators) allowBlockPlain = false;
  return { multiline: lineBreaks, allowBlockPlain, allowSingleQuoted };
}

class Writer {
  out = '';
  column = 0;
  whitespace = true;
  indention = true;

  write(s: string): void {
    this.out += s;
    this.column += [...s].length;
  }
  lineBreak(): void {
    this.out += '\n';
    this.column = 0;
    this.whitespace = true;
    this.indention = true;
  }
  indent(n: number): void {
    if (!this.indention || this.column > n || (this.column === n && !this.whitespace)) this.lineBreak();
    if (this.column < n) {
      this.whitespace = true;
      this.write(' '.repeat(n - this.column));
    }
  }
  indicator(ind: string, needWhitespace: boolean): void {
    this.write(this.whitespace || !needWhitespace ? ind : ' ' + ind);
    this.whitespace = false;
    this.indention = false;
  }

  /** A run of line breaks inside a scalar: a leading '\n' is written twice because a reader folds a single one into a space. */
  breaks(run: string[]): void {
    if (run[0] === '\n') this.lineBreak();
    for (const br of run) {
      if (br === '\n') this.lineBreak();
      else {
        this.out += br;
        this.column = 0;
      }
    }
    this.indent(INDENT);
  }

  plain(text: string): void {
    if (!text) return;
    if (!this.whitespace) this.write(' ');
    this.whitespace = false;
    this.indention = false;
    const t = [...text];
    let spaces = false,
      breaks = false,
      start = 0;
    for (let end = 0; end <= t.length; end++) {
      const ch = t[end];
      if (spaces) {
        if (ch !== ' ') {
          if (start + 1 === end && this.column > BEST_WIDTH) {
            this.indent(INDENT);
            this.whitespace = false;
            this.indention = false;
          } else {
            this.write(t.slice(start, end).join(''));
          }
          start = end;
        }
      } else if (breaks) {
        if (ch === undefined || !BREAKS.includes(ch)) {
          this.breaks(t.slice(start, end));
          this.whitespace = false;
          this.indention = false;
          start = end;
        }
      } else if (ch === undefined || ' \n\x85\u2028\u2029'.includes(ch)) {
        this.write(t.slice(start, end).join(''));
        start = end;
      }
      if (ch !== undefined) {
        spaces = ch === ' ';
        breaks = BREAKS.includes(ch);
      }
    }
  }

  singleQuoted(text: string): void {
    this.indicator("'", true);
    const t = [...text];
    let spaces = false,
      breaks = false,
      start = 0;
    for (let end = 0; end <= t.length; end++) {
      const ch = t[end];
      if (spaces) {
        if (ch === undefined || ch !== ' ') {
          if (start + 1 === end && this.column > BEST_WIDTH && start !== 0 && end !== t.length) {
            this.indent(INDENT);
          } else {
            this.write(t.slice(start, end).join(''));
          }
          start = end;
        }
      } else if (breaks) {
        if (ch === undefined || !BREAKS.includes(ch)) {
          this.breaks(t.slice(start, end));
          start = end;
        }
      } else if (ch === undefined || ' \n\x85\u2028\u2029'.includes(ch) || ch === "'") {
        if (start < end) {
          this.write(t.slice(start, end).join(''));
          start = end;
        }
      }
      if (ch === "'") {
        this.write("''");
        start = end + 1;
      }
      if (ch !== undefined) {
        spaces = ch === ' ';
        breaks = BREAKS.includes(ch);
      }
    }
    this.indicator("'", false);
  }
}

function scalarText(v: Exclude<CotValue, null | undefined>): { text: string; isString: boolean } {
  if (typeof v === 'number') return { text: Number.isInteger(v) ? String(v) : pyFloat(v), isString: false };
  if (typeof v === 'boolean') return { text: v ? 'true' : 'false', isString: false };
  return { text: v, isString: true };
}

function pyFloat(v: number): string {
  if (Number.isNaN(v)) return '.nan';
  if (!Number.isFinite(v)) return v > 0 ? '.inf' : '-.inf';
  const s = String(v);
  return s.includes('.') || s.includes('e') ? s : `${s}.0`;
}

/** yaml.dump(mapping, allow_unicode=True, sort_keys=True) for a flat mapping of scalars, stripped. */
export function dumpYaml(mapping: Record<string, Exclude<CotValue, undefined>>): string {
  const w = new Writer();
  const keys = Object.keys(mapping).sort();
  for (const key of keys) {
    w.indent(0);
    w.write(key);
    w.whitespace = false;
    w.indention = false;
    w.indicator(':', false);
    const v = mapping[key];
    if (v === null) {
      w.plain('null');
      continue;
    }
    const { text, isString } = scalarText(v);
    const a = analyze(text);
    const resolvesElsewhere = isString && IMPLICIT.some((r) => r.test(text));
    if (!isString || (a.allowBlockPlain && !resolvesElsewhere)) w.plain(text);
    else if (a.allowSingleQuoted) w.singleQuoted(text);
    else w.write(' ' + JSON.stringify(text)); // double-quoted: control characters only
  }
  return w.out.trim();
}

/**
 * The metadata mapping as `_format_metadata_as_cot` builds it: known keys only, empty values
 * dropped, "N/4" time signatures shortened to N, digit strings turned into integers.
 */
export function cotMapping(meta: Record<string, CotValue>): Record<string, string | number | boolean> {
  const keys = ['bpm', 'caption', 'duration', 'keyscale', 'language', 'timesignature'];
  const out: Record<string, string | number | boolean> = {};
  for (const k of keys) {
    let v = meta[k];
    if (v === null || v === undefined || v === '') continue;
    if (k === 'timesignature' && typeof v === 'string' && v.endsWith('/4')) v = v.slice(0, -2);
    if (typeof v === 'string' && /^\d+$/.test(v)) v = Number.parseInt(v, 10);
    out[k] = v;
  }
  return out;
}

/** `<think>\n{yaml}\n</think>` for the given metadata. */
export function formatCot(meta: Record<string, CotValue>): string {
  return `<think>\n${dumpYaml(cotMapping(meta))}\n</think>`;
}
