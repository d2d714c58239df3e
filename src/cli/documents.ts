/**
 * Resource documents from `-f` arguments: files (YAML or JSON; several
 * documents per file, separated by `---`) and directories (every .yaml, .yml
 * and .json file under them, recursively, in name order). Each document keeps
 * where it came from, so that the control plane's `items[i].<field>` paths can
 * be reported as `file (document n, line l): <field>`.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { LineCounter, parseAllDocuments } from 'yaml';

export interface SourceDocument {
  /** `dir/file.yaml (document 2, line 14, Route default/api)`. */
  where: string;
  value: unknown;
}

const EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

export class DocumentError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`cannot read the documents:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

/** Every document of every file; every unreadable file and syntax error is listed, not just the first. */
export async function readDocuments(inputs: readonly string[]): Promise<SourceDocument[]> {
  const problems: string[] = [];
  const files: string[] = [];
  for (const input of inputs) {
    try {
      files.push(...(await expand(input)));
    } catch (err) {
      problems.push(`${input}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`);
    }
  }
  const docs: SourceDocument[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      problems.push(`${file}: ${(err as Error).message}`);
      continue;
    }
    docs.push(...parseDocuments(file, text, problems));
  }
  if (problems.length > 0) throw new DocumentError(problems);
  return docs;
}

async function expand(input: string): Promise<string[]> {
  const s = await stat(input);
  if (!s.isDirectory()) return [input];
  const out: string[] = [];
  const entries = (await readdir(input, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const e of entries) {
    const p = path.join(input, e.name);
    if (e.isDirectory()) out.push(...(await expand(p)));
    else if (EXTENSIONS.has(path.extname(e.name).toLowerCase())) out.push(p);
  }
  return out;
}

/** YAML is a superset of JSON, so one parser reads both; a document may also be `{items: [...]}` or a list. */
export function parseDocuments(file: string, text: string, problems: string[]): SourceDocument[] {
  const lines = new LineCounter();
  const out: SourceDocument[] = [];
  parseAllDocuments(text, { lineCounter: lines }).forEach((doc, i) => {
    // Where the document's content starts (after a `---` or comments), which is where an editor should jump.
    const line = lines.linePos(doc.contents?.range[0] ?? doc.range[0]).line;
    const base = `${file} (document ${i + 1}, line ${line}`;
    if (doc.errors.length > 0) {
      for (const e of doc.errors) problems.push(`${file} (document ${i + 1}, line ${e.linePos?.[0].line ?? line}): ${e.message.split('\n')[0]}`);
      return;
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return;
    const several = Array.isArray(value) || isList(value);
    const items: unknown[] = Array.isArray(value) ? value : isList(value) ? value.items : [value];
    items.forEach((item, k) => out.push({ where: `${base}${several ? `, item ${k + 1}` : ''}${describe(item)})`, value: item }));
  });
  return out;
}

function isList(v: unknown): v is { items: unknown[] } {
  return typeof v === 'object' && v !== null && !('kind' in v) && Array.isArray((v as { items?: unknown }).items);
}

/** `, Route default/api` when the document says what it is. */
function describe(item: unknown): string {
  if (typeof item !== 'object' || item === null) return '';
  const r = item as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
  if (typeof r.kind !== 'string' || typeof r.metadata?.name !== 'string') return '';
  const ns = typeof r.metadata.namespace === 'string' ? r.metadata.namespace : 'default';
  return `, ${r.kind} ${ns}/${r.metadata.name}`;
}
