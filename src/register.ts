/// <reference types="node" preserve="true" />
/**
 * `node --import oi-audit/register app.js`: sets up auditing before the app's own code runs.
 * Options come from the environment (OTEL_* and OI_AUDIT_*); the app gets the recorder with
 * `getAuditRecorder()` from 'oi-audit'.
 */
import { register } from './setup/register.js';

register();
