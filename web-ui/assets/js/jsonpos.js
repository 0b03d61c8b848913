// Finds where a JSON text first goes wrong (browsers' JSON.parse messages do not all say),
// so an invalid flow file can be reported by line and column.

export function jsonErrorOffset(text) {
  let i = 0;
  const fail = () => { throw new RangeError(String(i)); };
  const ws = () => { while (i < text.length && ' \t\n\r'.includes(text[i])) i++; };
  const str = () => {
    i++;
    while (i < text.length) {
      const c = text[i];
      if (c === '"') { i++; return; }
      if (c === '\\') i += 2;
      else if (c < ' ') fail();
      else i++;
    }
    fail();
  };
  const value = (depth) => {
    if (depth > 500) fail();
    ws();
    const c = text[i];
    if (c === '{') {
      i++; ws();
      if (text[i] === '}') { i++; return; }
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        str(); ws();
        if (text[i] !== ':') fail();
        i++;
        value(depth + 1); ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === '}') { i++; return; }
        fail();
      }
    }
    if (c === '[') {
      i++; ws();
      if (text[i] === ']') { i++; return; }
      for (;;) {
        value(depth + 1); ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === ']') { i++; return; }
        fail();
      }
    }
    if (c === '"') return str();
    const m = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 400));
    if (!m) fail();
    i += m[0].length;
  };
  try {
    value(0);
    ws();
    if (i < text.length) fail();
    return null;
  } catch (e) {
    if (e instanceof RangeError) return Number(e.message);
    throw e;
  }
}

/** { line, column } (1-based) of an offset. */
export function lineColumn(text, offset) {
  const upto = text.slice(0, offset);
  const line = upto.split('\n').length;
  return { line, column: offset - upto.lastIndexOf('\n') };
}
