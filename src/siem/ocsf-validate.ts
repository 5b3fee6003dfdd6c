/**
 * Checks an OCSF event against the schema facts the mapper relies on (OCSF 1.8.0, from
 * ocsf-schema `events/**` and `dictionary.json` as summarised in the security reference §5.1):
 * the base event's required attributes and their consistency rules, and each class's required
 * attributes and required sub-fields. Not a full schema validator: enough to catch a mapper that
 * forgets a required field or miscomputes type_uid.
 */

export interface OcsfValidation {
  valid: boolean;
  errors: string[];
}

type Obj = Record<string, unknown>;

const BASE_REQUIRED = ['activity_id', 'category_uid', 'class_uid', 'metadata', 'severity_id', 'time', 'type_uid'] as const;
const SEVERITY_IDS = new Set([0, 1, 2, 3, 4, 5, 6, 99]);
const CATEGORY_UIDS = new Set([1, 2, 3, 4, 5, 6, 7, 8]);

/** Required attributes per class, with the required fields of the objects they hold (dotted paths). */
export const CLASS_REQUIREMENTS: Record<number, { name: string; required: string[]; activities?: number[] }> = {
  1001: { name: 'File System Activity', required: ['actor', 'device', 'file', 'file.name', 'file.type_id'] },
  1007: { name: 'Process Activity', required: ['actor', 'device', 'process'], activities: [0, 1, 2, 3, 4, 5, 99] },
  1009: { name: 'Script Activity', required: ['actor', 'device', 'script', 'script.script_content', 'script.type_id'], activities: [0, 1, 99] },
  2004: { name: 'Detection Finding', required: ['finding_info', 'finding_info.uid'], activities: [0, 1, 2, 3, 99] },
  3002: { name: 'Authentication', required: ['user'] },
  6002: { name: 'Application Lifecycle', required: ['app'] },
  6003: { name: 'API Activity', required: ['actor', 'api', 'api.operation', 'src_endpoint'], activities: [0, 1, 2, 3, 4, 99] },
};

function get(obj: Obj, path: string): unknown {
  let cur: unknown = obj;
  for (const key of path.split('.')) {
    if (!cur || typeof cur !== 'object' || Array.isArray(cur)) return undefined;
    cur = (cur as Obj)[key];
  }
  return cur;
}

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

/** Validate one OCSF event object. */
export function validateOcsf(event: unknown): OcsfValidation {
  const errors: string[] = [];
  if (!event || typeof event !== 'object' || Array.isArray(event)) return { valid: false, errors: ['event must be a JSON object'] };
  const ev = event as Obj;
  for (const k of BASE_REQUIRED) if (ev[k] === undefined || ev[k] === null) errors.push(`missing required attribute ${k}`);
  const classUid = ev.class_uid;
  const categoryUid = ev.category_uid;
  const activityId = ev.activity_id;
  for (const k of ['activity_id', 'category_uid', 'class_uid', 'severity_id', 'type_uid', 'time'] as const) {
    if (ev[k] !== undefined && !isInt(ev[k])) errors.push(`${k} must be an integer`);
  }
  if (isInt(categoryUid) && !CATEGORY_UIDS.has(categoryUid)) errors.push(`unknown category_uid ${categoryUid}`);
  if (isInt(classUid) && isInt(categoryUid) && Math.floor(classUid / 1000) !== categoryUid) {
    errors.push(`class_uid ${classUid} is not in category ${categoryUid} (class_uid = category_uid * 1000 + n)`);
  }
  if (isInt(classUid) && isInt(activityId) && isInt(ev.type_uid) && ev.type_uid !== classUid * 100 + activityId) {
    errors.push(`type_uid ${ev.type_uid} must be class_uid * 100 + activity_id = ${classUid * 100 + activityId}`);
  }
  if (isInt(ev.severity_id) && !SEVERITY_IDS.has(ev.severity_id)) errors.push(`severity_id ${ev.severity_id} is not one of 0-6, 99`);
  if (isInt(ev.status_id) && ![0, 1, 2, 3, 4, 99].includes(ev.status_id)) errors.push(`status_id ${ev.status_id} is out of range`);
  if (isInt(ev.time) && ev.time < 0) errors.push('time must be milliseconds since the epoch');
  const metadata = ev.metadata;
  if (metadata !== undefined) {
    if (!metadata || typeof metadata !== 'object') errors.push('metadata must be an object');
    else {
      const m = metadata as Obj;
      if (!m.product || typeof m.product !== 'object') errors.push('missing required attribute metadata.product');
      if (typeof m.version !== 'string' || !/^1\.\d+\.\d+/.test(m.version)) errors.push('metadata.version must be the OCSF schema version (1.x.y)');
    }
  }
  if (isInt(classUid)) {
    const req = CLASS_REQUIREMENTS[classUid];
    if (!req) errors.push(`class_uid ${classUid} is not one this validator knows`);
    else {
      for (const path of req.required) {
        const v = get(ev, path);
        if (v === undefined || v === null) errors.push(`${req.name}: missing required attribute ${path}`);
      }
      if (req.activities && isInt(activityId) && !req.activities.includes(activityId)) errors.push(`${req.name}: activity_id ${activityId} is not defined`);
      if (classUid === 2004) {
        const analytic = get(ev, 'finding_info.analytic');
        if (analytic !== undefined && !isInt(get(ev, 'finding_info.analytic.type_id'))) errors.push('Detection Finding: finding_info.analytic requires type_id');
        const attacks = get(ev, 'finding_info.attacks');
        if (attacks !== undefined) {
          if (!Array.isArray(attacks)) errors.push('Detection Finding: finding_info.attacks must be an array');
          else for (const [i, a] of attacks.entries()) if (!get(a as Obj, 'technique.uid') && !get(a as Obj, 'tactic.uid')) errors.push(`Detection Finding: attacks[${i}] names no technique or tactic`);
        }
      }
      if (classUid === 1009 && get(ev, 'script.type_id') !== undefined && ![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 99].includes(get(ev, 'script.type_id') as number)) {
        errors.push(`Script Activity: script.type_id ${String(get(ev, 'script.type_id'))} is out of range`);
      }
    }
  }
  return { valid: errors.length === 0, errors };
}
