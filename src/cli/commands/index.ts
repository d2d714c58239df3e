/** Every `hyphae` command. A new command is a file in this folder and a line here. */
import type { Command } from '../command.js';
import { applyCommand } from './apply.js';
import { caCommand } from './ca.js';
import { checkCommand } from './check.js';
import { completionCommand } from './completion.js';
import { configCommand } from './config.js';
import { controlPlaneCommand } from './control-plane.js';
import { deleteCommand } from './delete.js';
import { describeCommand } from './describe.js';
import { diffCommand } from './diff.js';
import { gatewayCommand } from './gateway.js';
import { getCommand } from './get.js';
import { proxyCommand } from './proxy.js';
import { schemaCommand } from './schema.js';
import { statusCommand } from './status.js';
import { tokenCommand } from './token.js';
import { tapCommand } from './tap.js';
import { topCommand } from './top.js';
import { versionCommand } from './version.js';

export const commands: readonly Command[] = [
  controlPlaneCommand,
  applyCommand,
  getCommand,
  deleteCommand,
  diffCommand,
  schemaCommand,
  statusCommand,
  topCommand,
  tapCommand,
  describeCommand,
  tokenCommand,
  caCommand,
  proxyCommand,
  gatewayCommand,
  checkCommand,
  versionCommand,
  configCommand,
  completionCommand(() => commands),
];
