/**
 * TypeScript types for the gateway's custom scalars, shared by the Relay
 * (relay.config.json `customScalarTypes`) and GraphQL Code Generator
 * (codegen.ts `scalars`) settings.
 *
 * DateTime  RFC 3339 string, e.g. "2025-01-31T09:12:00Z"  -> string
 * Date ISO 8601 date, e.g. "2025-12-24"              -> string
 * JSON      any JSON value (e.g. AdminChange.detail)      -> JsonValue
 */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | JsonValue[]
  | { [key: string]: JsonValue };
