import type { CommandSpec } from '../args.js';
import { chatCommand } from './chat.js';
import { demoCommand } from './demo.js';
import { exportCommand } from './export.js';
import { exportLokiCommand } from './export-loki.js';
import { gatewayCommand } from './gateway.js';
import { importCommand } from './import.js';
import { keygenCommand } from './keygen.js';
import { sealArchiveCommand } from './seal-archive.js';
import { spoolCommand } from './spool.js';
import { verifyCommand } from './verify.js';
import { viewCommand } from './view.js';

/** Every subcommand, in the order `oi-audit --help` lists them. */
export const COMMANDS: CommandSpec[] = [chatCommand, demoCommand, viewCommand, verifyCommand, exportCommand, exportLokiCommand, importCommand, gatewayCommand, keygenCommand, spoolCommand, sealArchiveCommand];
