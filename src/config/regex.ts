import safeRegex from 'safe-regex2';
/**
 * RegularExpression matches (Route paths, headers, query parameters) must
 * match the whole value, as Envoy's safe_regex does: `/v[0-9]+` matches `/v1`
 * but not `/v1/admin`. One definition, so the control plane validates exactly
 * the regex the clients compile.
 */
export function fullMatchRegex(pattern: string): RegExp {
  return new RegExp(`^(?:${pattern})$`);
}

/**
 * The reason a pattern is refused, or undefined when it is accepted: it must
 * compile, and it must not be able to backtrack catastrophically. Clients run
 * route regexes on every request against caller-controlled input with the
 * JavaScript engine (backtracking, unlike Envoy's RE2), so a pattern such as
 * `(a+)+$` would let one request stall a whole process. safe-regex2 (the
 * check fastify uses) refuses nested quantifiers (star height > 1) and
 * patterns with very many repetitions; it is a heuristic, which is why the
 * docs still ask for simple patterns.
 */
export function regexError(pattern: string): string | undefined {
  try {
    // The pattern alone first, so the message quotes what the user wrote, not our anchors.
    new RegExp(pattern);
    fullMatchRegex(pattern);
  } catch (err) {
    const message = (err as Error).message;
    return message.slice(message.lastIndexOf(': ') + 2);
  }
  if (!safeRegex(pattern)) {
    return 'may backtrack catastrophically (a quantifier inside a quantified group, or too many repetitions); rewrite it without nesting quantifiers';
  }
  return undefined;
}
