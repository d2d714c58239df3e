/** An InboundTls the test drives: a fixed certificate and roots, a mode to switch, a version to bump. */
import { Listeners } from '../../src/core/events.js';
import type { MtlsMode } from '../../src/config/resources.js';
import type { InboundTls } from '../../src/server/mtls-front.js';

export interface Creds {
  key: string;
  cert: string;
}

export class TestInbound implements InboundTls {
  modeNow: MtlsMode = 'STRICT';
  version = 1;
  changes = new Listeners<void>();
  constructor(
    public creds: Creds,
    public roots: string[],
  ) {}
  mode() {
    return this.modeNow;
  }
  material() {
    return { version: this.version, options: { ...this.creds, ca: this.roots }, trustDomain: 'td' };
  }
  onChange(l: () => void) {
    return this.changes.on(l);
  }
  set(mode: MtlsMode) {
    this.modeNow = mode;
    this.changes.emit();
  }
}
