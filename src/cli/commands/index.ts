/** Every `hyphae` command. A new command is a file in this folder and a line here. */
import type { Command } from '../command.js';
import { controlPlaneCommand } from './control-plane.js';
import { describeCommand } from './describe.js';
import { statusCommand } from './status.js';
import { topCommand } from './top.js';

export const commands: readonly Command[] = [controlPlaneCommand, statusCommand, topCommand, describeCommand];
