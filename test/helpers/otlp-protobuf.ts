/**
 * A minimal OTLP protobuf decoder for test receivers: ExportLogsServiceRequest into the OTLP/JSON shape
 * (resourceLogs → scopeLogs → logRecords with body, attributes, ids), from the field numbers of
 * opentelemetry-proto's logs.proto and common.proto. Only what the tests read; unknown fields are skipped.
 */
type Fields = Map<number, Array<number | bigint | Uint8Array>>;

function readVarint(buf: Uint8Array, pos: { i: number }): bigint {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    if (pos.i >= buf.length) throw new Error('protobuf: truncated varint');
    const byte = buf[pos.i++]!;
    result |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return result;
    shift += 7n;
  }
}

function fields(buf: Uint8Array): Fields {
  const out: Fields = new Map();
  const pos = { i: 0 };
  while (pos.i < buf.length) {
    const key = Number(readVarint(buf, pos));
    const field = key >>> 3;
    const wire = key & 7;
    let value: number | bigint | Uint8Array;
    if (wire === 0) value = readVarint(buf, pos);
    else if (wire === 1) {
      value = new DataView(buf.buffer, buf.byteOffset + pos.i, 8).getBigUint64(0, true);
      pos.i += 8;
    } else if (wire === 2) {
      const len = Number(readVarint(buf, pos));
      value = buf.subarray(pos.i, pos.i + len);
      pos.i += len;
    } else if (wire === 5) {
      value = new DataView(buf.buffer, buf.byteOffset + pos.i, 4).getUint32(0, true);
      pos.i += 4;
    } else throw new Error(`protobuf: unsupported wire type ${wire}`);
    const list = out.get(field) ?? [];
    list.push(value);
    out.set(field, list);
  }
  return out;
}

const text = (v: unknown) => new TextDecoder().decode(v as Uint8Array);
const hex = (v: unknown) => Buffer.from(v as Uint8Array).toString('hex');
const bytesOf = (f: Fields, n: number) => (f.get(n) ?? []) as Uint8Array[];

function anyValue(buf: Uint8Array): Record<string, unknown> {
  const f = fields(buf);
  if (f.has(1)) return { stringValue: text(f.get(1)![0]) };
  if (f.has(2)) return { boolValue: f.get(2)![0] !== 0n };
  if (f.has(3)) return { intValue: String(BigInt.asIntN(64, f.get(3)![0] as bigint)) };
  if (f.has(4)) return { doubleValue: new DataView(new BigUint64Array([f.get(4)![0] as bigint]).buffer).getFloat64(0, true) };
  if (f.has(5)) return { arrayValue: { values: bytesOf(fields(f.get(5)![0] as Uint8Array), 1).map(anyValue) } };
  if (f.has(6)) return { kvlistValue: { values: bytesOf(fields(f.get(6)![0] as Uint8Array), 1).map(keyValue) } };
  return {};
}

function keyValue(buf: Uint8Array): { key: string; value: Record<string, unknown> } {
  const f = fields(buf);
  return { key: text(f.get(1)?.[0] ?? new Uint8Array()), value: f.has(2) ? anyValue(f.get(2)![0] as Uint8Array) : {} };
}

function logRecord(buf: Uint8Array): Record<string, unknown> {
  const f = fields(buf);
  const record: Record<string, unknown> = {
    timeUnixNano: String(f.get(1)?.[0] ?? 0n),
    observedTimeUnixNano: String(f.get(11)?.[0] ?? 0n),
    severityNumber: Number(f.get(2)?.[0] ?? 0n),
    attributes: bytesOf(f, 6).map(keyValue),
  };
  if (f.has(3)) record.severityText = text(f.get(3)![0]);
  if (f.has(5)) record.body = anyValue(f.get(5)![0] as Uint8Array);
  if (f.has(9)) record.traceId = hex(f.get(9)![0]);
  if (f.has(10)) record.spanId = hex(f.get(10)![0]);
  if (f.has(12)) record.eventName = text(f.get(12)![0]);
  return record;
}

/** ExportLogsServiceRequest (protobuf) → its OTLP/JSON form. */
export function decodeLogsRequest(buf: Uint8Array): { resourceLogs: unknown[] } {
  return {
    resourceLogs: bytesOf(fields(buf), 1).map((rl) => {
      const r = fields(rl);
      const resource = r.has(1) ? fields(r.get(1)![0] as Uint8Array) : new Map();
      return {
        resource: { attributes: bytesOf(resource as Fields, 1).map(keyValue) },
        scopeLogs: bytesOf(r, 2).map((sl) => {
          const s = fields(sl);
          const scope = s.has(1) ? fields(s.get(1)![0] as Uint8Array) : new Map();
          return { scope: { name: text((scope as Fields).get(1)?.[0] ?? new Uint8Array()) }, logRecords: bytesOf(s, 2).map(logRecord) };
        }),
      };
    }),
  };
}
