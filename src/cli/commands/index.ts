/** Every `hyphae` command. A new command is a file in this folder and a line here. */
import type { Command } from '../command.js';
import { caCommand } from './ca.js';
import { controlPlaneCommand } from './control-plane.js';
import { tokenCommand } from './token.js';

export const commands: readonly Command[] = [controlPlaneCommand, tokenCommand, caCommand];
