/**
 * A parser for the subset of the FlatBuffers schema language this project uses. It exists so the
 * verifier can be driven by layouts derived from the very schemas flatc compiles; codegen.ts
 * cross-checks every layout it computes against flatc's own binary schema, so a disagreement
 * (or any construct this parser does not know) stops generation instead of yielding a verifier
 * that checks the wrong thing.
 *
 * Understood: namespace, include, attribute, table, struct, enum (incl. bit_flags), union,
 * scalars, string, vectors, fixed arrays in structs, defaults (incl. `= null`), the field
 * attributes required / id / deprecated / key, comments, root_type, file_identifier,
 * file_extension. Anything else is a SchemaError naming file and line.
 */

export class SchemaError extends Error {
  constructor(file: string, line: number, message: string) {
    super(`${file}:${line}: ${message}`);
    this.name = 'SchemaError';
  }
}

export type ScalarName =
  | 'bool' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'float32' | 'float64';

const scalarAliases: Record<string, ScalarName> = {
  bool: 'bool',
  byte: 'int8', int8: 'int8',
  ubyte: 'uint8', uint8: 'uint8',
  short: 'int16', int16: 'int16',
  ushort: 'uint16', uint16: 'uint16',
  int: 'int32', int32: 'int32',
  uint: 'uint32', uint32: 'uint32',
  long: 'int64', int64: 'int64',
  ulong: 'uint64', uint64: 'uint64',
  float: 'float32', float32: 'float32',
  double: 'float64', float64: 'float64',
};

export const scalarSize: Record<ScalarName, number> = {
  bool: 1, int8: 1, uint8: 1, int16: 2, uint16: 2, int32: 4, uint32: 4, int64: 8, uint64: 8, float32: 4, float64: 8,
};

/** A type as written in the schema, before names are resolved. */
export type TypeRef =
  | { kind: 'scalar'; scalar: ScalarName }
  | { kind: 'string' }
  | { kind: 'named'; name: string }
  | { kind: 'vector'; element: TypeRef }
  | { kind: 'array'; element: TypeRef; length: number };

export interface FieldDecl {
  name: string;
  type: TypeRef;
  defaultValue: string | null; // raw token text; 'null' for optional scalars
  attributes: Map<string, string | null>;
  line: number;
}

export interface TypeDecl {
  kind: 'table' | 'struct' | 'enum' | 'union';
  name: string; // fully qualified
  namespace: string;
  file: string;
  line: number;
  fields: FieldDecl[]; // tables and structs
  underlying: ScalarName | null; // enums
  values: { name: string; value: bigint | null; target: string | null; line: number }[]; // enums/unions
  attributes: Map<string, string | null>;
}

export interface FileDecl {
  file: string;
  namespace: string;
  includes: string[];
  types: TypeDecl[];
  rootType: string | null; // as written, resolved later
  fileIdentifier: string | null;
}

type Token = { kind: 'ident' | 'number' | 'string' | 'punct'; text: string; line: number };

function tokenize(file: string, source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  const n = source.length;
  while (i < n) {
    const c = source[i];
    if (c === '\n') { line++; i++; continue; }
    if (c === ' ' || c === '\t' || c === '\r') { i++; continue; }
    if (c === '/' && source[i + 1] === '/') {
      while (i < n && source[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && source[i + 1] === '*') {
      const end = source.indexOf('*/', i + 2);
      if (end < 0) throw new SchemaError(file, line, 'unterminated block comment');
      for (let j = i; j < end; j++) if (source[j] === '\n') line++;
      i = end + 2;
      continue;
    }
    if (c === '"') {
      const end = source.indexOf('"', i + 1);
      if (end < 0 || source.slice(i + 1, end).includes('\n')) throw new SchemaError(file, line, 'unterminated string');
      const text = source.slice(i + 1, end);
      if (text.includes('\\')) throw new SchemaError(file, line, 'escape sequences in strings are not supported');
      tokens.push({ kind: 'string', text, line });
      i = end + 1;
      continue;
    }
    const ident = /[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*/y;
    ident.lastIndex = i;
    let m = ident.exec(source);
    if (m) {
      tokens.push({ kind: 'ident', text: m[0], line });
      i += m[0].length;
      continue;
    }
    const num = /[-+]?(0[xX][0-9a-fA-F]+|[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?)/y;
    num.lastIndex = i;
    m = num.exec(source);
    if (m) {
      tokens.push({ kind: 'number', text: m[0], line });
      i += m[0].length;
      continue;
    }
    if ('{}()[]:;,='.includes(c)) {
      tokens.push({ kind: 'punct', text: c, line });
      i++;
      continue;
    }
    throw new SchemaError(file, line, `unexpected character ${JSON.stringify(c)}`);
  }
  return tokens;
}

const knownFieldAttributes = new Set(['required', 'id', 'deprecated', 'key']);
const knownTypeAttributes = new Set<string>();
const knownEnumAttributes = new Set(['bit_flags']);

export function parseFile(file: string, source: string): FileDecl {
  const tokens = tokenize(file, source);
  let pos = 0;
  const out: FileDecl = { file, namespace: '', includes: [], types: [], rootType: null, fileIdentifier: null };
  const declaredAttributes = new Set<string>();
  let sawDeclaration = false;

  const peek = (): Token | undefined => tokens[pos];
  const lineOf = (): number => (tokens[pos] ?? tokens[tokens.length - 1])?.line ?? 1;
  const fail = (message: string): never => {
    throw new SchemaError(file, lineOf(), message);
  };
  const next = (): Token => tokens[pos++] ?? fail('unexpected end of file');
  const expect = (text: string): void => {
    const t = next();
    if (t.text !== text || t.kind === 'string') throw new SchemaError(file, t.line, `expected '${text}', found '${t.text}'`);
  };
  const accept = (text: string): boolean => {
    const t = peek();
    if (t && t.kind === 'punct' && t.text === text) { pos++; return true; }
    return false;
  };
  const ident = (): string => {
    const t = next();
    if (t.kind !== 'ident') throw new SchemaError(file, t.line, `expected a name, found '${t.text}'`);
    return t.text;
  };
  const simpleIdent = (): string => {
    const line = lineOf();
    const name = ident();
    if (name.includes('.')) throw new SchemaError(file, line, `'${name}' must not be qualified here`);
    return name;
  };
  const qualify = (name: string): string => (out.namespace ? `${out.namespace}.${name}` : name);

  const attributes = (allowed: Set<string>): Map<string, string | null> => {
    const attrs = new Map<string, string | null>();
    if (!accept('(')) return attrs;
    for (;;) {
      const line = lineOf();
      const name = ident();
      if (!allowed.has(name) && !declaredAttributes.has(name)) {
        throw new SchemaError(file, line, `unsupported attribute '${name}'`);
      }
      let value: string | null = null;
      if (accept(':')) {
        const t = next();
        if (t.kind === 'punct') throw new SchemaError(file, t.line, `bad value for attribute '${name}'`);
        value = t.text;
      }
      if (attrs.has(name)) throw new SchemaError(file, line, `duplicate attribute '${name}'`);
      attrs.set(name, value);
      if (accept(')')) break;
      expect(',');
    }
    return attrs;
  };

  const typeRef = (): TypeRef => {
    if (accept('[')) {
      const element = typeRef();
      if (element.kind === 'vector' || element.kind === 'array') fail('nested vectors are not allowed');
      if (accept(':')) {
        const t = next();
        if (t.kind !== 'number' || !/^[0-9]+$/.test(t.text)) throw new SchemaError(file, t.line, 'array length must be a decimal integer');
        const length = Number(t.text);
        if (length < 1 || length > 0xffff) throw new SchemaError(file, t.line, 'array length out of range');
        expect(']');
        return { kind: 'array', element, length };
      }
      expect(']');
      return { kind: 'vector', element };
    }
    const name = ident();
    if (name === 'string') return { kind: 'string' };
    const scalar = scalarAliases[name];
    if (scalar) return { kind: 'scalar', scalar };
    return { kind: 'named', name };
  };

  const fieldList = (isStruct: boolean): FieldDecl[] => {
    const fields: FieldDecl[] = [];
    expect('{');
    while (!accept('}')) {
      const line = lineOf();
      const name = simpleIdent();
      expect(':');
      const type = typeRef();
      if (!isStruct && type.kind === 'array') throw new SchemaError(file, line, `fixed arrays are only allowed in structs (${name})`);
      let defaultValue: string | null = null;
      if (accept('=')) {
        if (isStruct) throw new SchemaError(file, line, 'struct fields cannot have defaults');
        const t = next();
        if (t.kind === 'string' || t.kind === 'punct') throw new SchemaError(file, t.line, `unsupported default '${t.text}'`);
        defaultValue = t.text;
      }
      const attrs = attributes(isStruct ? new Set() : knownFieldAttributes);
      expect(';');
      if (fields.some((f) => f.name === name)) throw new SchemaError(file, line, `duplicate field '${name}'`);
      fields.push({ name, type, defaultValue, attributes: attrs, line });
    }
    return fields;
  };

  while (pos < tokens.length) {
    const t = next();
    if (t.kind !== 'ident') throw new SchemaError(file, t.line, `unexpected '${t.text}'`);
    switch (t.text) {
      case 'include': {
        if (sawDeclaration) throw new SchemaError(file, t.line, 'include must come before declarations');
        const s = next();
        if (s.kind !== 'string') throw new SchemaError(file, s.line, 'include needs a file name string');
        out.includes.push(s.text);
        expect(';');
        break;
      }
      case 'namespace': {
        if (sawDeclaration || out.namespace) throw new SchemaError(file, t.line, 'one namespace per file, before any declaration');
        out.namespace = ident();
        expect(';');
        break;
      }
      case 'attribute': {
        const s = next();
        if (s.kind !== 'string') throw new SchemaError(file, s.line, 'attribute needs a name string');
        declaredAttributes.add(s.text);
        expect(';');
        break;
      }
      case 'table':
      case 'struct': {
        sawDeclaration = true;
        const name = simpleIdent();
        const attrs = attributes(knownTypeAttributes);
        const fields = fieldList(t.text === 'struct');
        out.types.push({ kind: t.text, name: qualify(name), namespace: out.namespace, file, line: t.line, fields, underlying: null, values: [], attributes: attrs });
        break;
      }
      case 'enum':
      case 'union': {
        sawDeclaration = true;
        const name = simpleIdent();
        let underlying: ScalarName | null = null;
        if (t.text === 'enum') {
          expect(':');
          const u = typeRef();
          if (u.kind !== 'scalar' || u.scalar === 'bool' || u.scalar.startsWith('float')) fail(`enum ${name} needs an integer underlying type`);
          underlying = (u as { scalar: ScalarName }).scalar;
        }
        const attrs = attributes(t.text === 'enum' ? knownEnumAttributes : new Set());
        const values: TypeDecl['values'] = [];
        expect('{');
        while (!accept('}')) {
          const line = lineOf();
          const valueName = ident();
          let value: bigint | null = null;
          if (t.text === 'union' && accept(':')) throw new SchemaError(file, line, 'union member aliases are not supported');
          if (accept('=')) {
            const v = next();
            if (v.kind !== 'number' || v.text.includes('.')) throw new SchemaError(file, v.line, 'enum values must be integers');
            value = BigInt(v.text.replace(/^\+/, ''));
          }
          values.push({ name: valueName, value, target: t.text === 'union' ? valueName : null, line });
          if (!accept(',')) {
            expect('}');
            break;
          }
        }
        out.types.push({ kind: t.text, name: qualify(name), namespace: out.namespace, file, line: t.line, fields: [], underlying, values, attributes: attrs });
        break;
      }
      case 'root_type': {
        out.rootType = ident();
        expect(';');
        break;
      }
      case 'file_identifier': {
        const s = next();
        if (s.kind !== 'string' || Buffer.byteLength(s.text) !== 4) throw new SchemaError(file, s.line, 'file_identifier must be 4 bytes');
        out.fileIdentifier = s.text;
        expect(';');
        break;
      }
      case 'file_extension': {
        const s = next();
        if (s.kind !== 'string') throw new SchemaError(file, s.line, 'file_extension needs a string');
        expect(';');
        break;
      }
      default:
        throw new SchemaError(file, t.line, `unsupported declaration '${t.text}'`);
    }
  }
  return out;
}
