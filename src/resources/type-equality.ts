// Compile-time check that a schema's output is exactly the type the rest of the router uses.

/** Ignores readonly-ness, which zod output types do not carry. */
type Normalized<T> = T extends string | number | boolean | bigint | null | undefined
  ? T
  : T extends readonly (infer E)[]
    ? readonly Normalized<E>[]
    : { readonly [K in keyof T]: Normalized<T[K]> };

/** true only when A and B are the same type (not merely assignable one way). */
export type SameType<A, B> =
  (<T>() => T extends Normalized<A> ? 1 : 2) extends <T>() => T extends Normalized<B> ? 1 : 2 ? true : false;
