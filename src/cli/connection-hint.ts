/**
 * What to do about a failed connection to the control plane, in the CLI's words. Node's own text
 * ("unable to verify the first certificate", "other side closed") names the symptom, never the flag
 * that fixes it.
 */

const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_SIGNATURE_FAILURE',
]);

/** Every code on the error and its causes (an error may wrap the socket's). */
function codes(err: unknown): string[] {
  const out: string[] = [];
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string') out.push(e.code);
  }
  return out;
}

export function connectionHint(url: string, err: unknown, hasCa: boolean): string | undefined {
  const seen = codes(err);
  const https = url.startsWith('https://');
  if (seen.some((c) => UNTRUSTED.has(c))) {
    return hasCa
      ? "the control plane's certificate is not signed by the CA in --ca-file (HYPHAE_CA_FILE): give that control plane's ca-bundle.pem"
      : "the control plane's certificate is signed by its own CA: give --ca-file <data-dir>/ca-bundle.pem (or HYPHAE_CA_FILE)";
  }
  if (seen.includes('CERT_HAS_EXPIRED')) return "the control plane's certificate has expired: restart it to get a new one, and check this machine's clock";
  if (seen.includes('ERR_TLS_CERT_ALTNAME_INVALID')) return "the control plane's certificate does not name this host: use the address it was started with (its --advertise or listen address)";
  if (seen.includes('ECONNREFUSED')) return 'nothing listens there: is the control plane running, and is --control-plane (HYPHAE_CONTROL_PLANE) its address?';
  if (seen.includes('ENOTFOUND') || seen.includes('EAI_AGAIN')) return 'the host name does not resolve: check --control-plane (HYPHAE_CONTROL_PLANE)';
  // Plain HTTP sent to a TLS listener: the control plane drops it, and the socket closes before an answer.
  if (!https && seen.includes('ECONNRESET')) return 'the control plane serves HTTPS unless started with --insecure: use https://';
  // A TLS hello sent to a plain HTTP listener gets an HTTP answer, which OpenSSL reads as a bad record.
  if (https && seen.some((c) => c === 'EPROTO' || c.startsWith('ERR_SSL'))) return 'this control plane speaks plain HTTP (started with --insecure): use http://';
  if (seen.includes('HEADERS_TIMEOUT')) return 'no answer within 10 s: the control plane is overloaded or the address is wrong';
  return undefined;
}
