/** SIEM mappings of audit event bodies: OCSF 1.8 and Elastic Common Schema (docs/siem-mapping.md). */
export { toOcsf, scriptTypeId, OCSF_VERSION, OCSF_CLASSES, type OcsfEvent } from './ocsf.js';
export { validateOcsf, CLASS_REQUIREMENTS, type OcsfValidation } from './ocsf-validate.js';
export { toEcs, ECS_VERSION, ECS_ALLOWED, type EcsDocument } from './ecs.js';
export { parseBody, BodyError, type AuditBody, type MappingContext, type ParsedBody } from './body.js';
export { safeJson } from './json-line.js';
