/**
 * Resource documents from `-f` arguments: files (YAML or JSON; several
 * documents per file, separated by `---`), directories (every .yaml, .yml
 * and .json file under them, recursively, in name order) and `-` (standard
 * input, as kubectl reads it). Each document keeps where it came from, so that
 * the control plane's `items[i].<field>` paths can be reported as
 * `file (document n, line l): <field>`.
 *
 * Directories are read recursively, unlike kubectl without -R: hyphae always
 * has, and a layout such as conf/routes/ must not quietly drop out of an apply
 * or a delete; every file read is named in the output, so nothing is hidden.
 *
 * yaml is imported when there are documents to parse, not with this module: `hyphae delete <kind> <name>`
 * and every command's --help load it without reading a document.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from './command.js';

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

/** How standard input is named in messages (`-f -`). */
export const STDIN_NAME = '<stdin>';

/**
 * Every document of every file, in the order given; every unreadable file and syntax error is listed, not
 * just the first. `-` is standard input (once: a second `-` would read nothing).
 */
export async function readDocuments(inputs: readonly string[], stdin: NodeJS.ReadableStream = process.stdin): Promise<SourceDocument[]> {
  if (inputs.filter((i) => i === '-').length > 1) throw new UsageError('-f - (standard input) can be given once');
  const problems: string[] = [];
  const docs: SourceDocument[] = [];
  for (const input of inputs) {
    if (input === '-') {
      docs.push(...(await parseDocuments(STDIN_NAME, await readAll(stdin), problems)));
      continue;
    }
    let files: string[];
    try {
      files = await expand(input);
    } catch (err) {
      problems.push(`${input}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`);
      continue;
    }
    for (const file of files) {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        problems.push(`${file}: ${(err as Error).message}`);
        continue;
      }
      docs.push(...(await parseDocuments(file, text, problems)));
    }
  }
  if (problems.length > 0) throw new DocumentError(problems);
  return docs;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  // A person at a terminal may not know the command waits for them.
  if ((stream as { isTTY?: boolean }).isTTY) process.stderr.write('reading resources from standard input (end with Ctrl-D)\n');
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
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
export async function parseDocuments(file: string, text: string, problems: string[]): Promise<SourceDocument[]> {
  const { LineCounter, parseAllDocuments } = await import('yaml');
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
