// Generated from schemas/*.fbs by `npm run gen`. Do not edit.
/* Verifier layouts derived from the schemas: vtable slots, struct offsets, union members. */
import type { EnumLayout, Layouts, StructLayout, TableLayout, UnionLayout } from '../layout.js';

export const tables = {

} satisfies Record<string, TableLayout>;

export const structs = {
  "offset.common.Hash32": {"name":"offset.common.Hash32","size":32,"align":1,"fields":[{"name":"bytes","offset":0,"size":32,"type":{"kind":"array","element":{"kind":"scalar","scalar":"uint8"},"length":32}}]},
  "offset.common.I128": {"name":"offset.common.I128","size":16,"align":8,"fields":[{"name":"hi","offset":0,"size":8,"type":{"kind":"scalar","scalar":"uint64"}},{"name":"lo","offset":8,"size":8,"type":{"kind":"scalar","scalar":"uint64"}}]},
  "offset.common.PublicKey": {"name":"offset.common.PublicKey","size":32,"align":1,"fields":[{"name":"bytes","offset":0,"size":32,"type":{"kind":"array","element":{"kind":"scalar","scalar":"uint8"},"length":32}}]},
  "offset.common.Rate": {"name":"offset.common.Rate","size":8,"align":4,"fields":[{"name":"mul","offset":0,"size":4,"type":{"kind":"scalar","scalar":"uint32"}},{"name":"add","offset":4,"size":4,"type":{"kind":"scalar","scalar":"uint32"}}]},
  "offset.common.Signature": {"name":"offset.common.Signature","size":64,"align":1,"fields":[{"name":"bytes","offset":0,"size":64,"type":{"kind":"array","element":{"kind":"scalar","scalar":"uint8"},"length":64}}]},
  "offset.common.U128": {"name":"offset.common.U128","size":16,"align":8,"fields":[{"name":"hi","offset":0,"size":8,"type":{"kind":"scalar","scalar":"uint64"}},{"name":"lo","offset":8,"size":8,"type":{"kind":"scalar","scalar":"uint64"}}]},
  "offset.common.Uid": {"name":"offset.common.Uid","size":16,"align":1,"fields":[{"name":"bytes","offset":0,"size":16,"type":{"kind":"array","element":{"kind":"scalar","scalar":"uint8"},"length":16}}]},
} satisfies Record<string, StructLayout>;

export const enums = {

} satisfies Record<string, EnumLayout>;

export const unions = {

} satisfies Record<string, UnionLayout>;

export type TableName = keyof typeof tables;
export type StructName = keyof typeof structs;

export const layouts: Layouts = { tables, structs, enums, unions };
