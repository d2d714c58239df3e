/**
 * RegularExpression matches (Route paths, headers, query parameters) must
 * match the whole value, as Envoy's safe_regex does: `/v[0-9]+` matches `/v1`
 * but not `/v1/admin`. One definition, so the control plane validates exactly
 * the regex the clients compile.
 */
export function fullMatchRegex(pattern: string): RegExp {
  return new RegExp(`^(?:${pattern})$`);
}

/** The reason a pattern does not compile, or undefined when it does. */
export function regexError(pattern: string): string | undefined {
  try {
    // The pattern alone first, so the message quotes what the user wrote, not our anchors.
    new RegExp(pattern);
    fullMatchRegex(pattern);
    return undefined;
  } catch (err) {
    const message = (err as Error).message;
    return message.slice(message.lastIndexOf(': ') + 2);
  }
}
