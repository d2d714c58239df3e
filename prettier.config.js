// @ts-check
/**
 * Formatting (`npm run format`, `npm run format:check`), set to the style the code was written in:
 * single quotes, semicolons, trailing commas, `(x) =>`, two spaces (prettier's defaults but the quotes).
 * The width is the one that rewrites the fewest lines of the tree as it stood when the formatter came
 * (issue 15): many lines were written long on purpose, so of 100, 120 ... 250, 200 changed the fewest
 * (about 2,500 lines added and removed, against 3,000 at 180 and 14,000 at 120).
 * @type {import('prettier').Config}
 */
export default {
  printWidth: 200,
  singleQuote: true,
};
