/**
 * The numbers of the auth service, its clients and its verifiers, each with
 * where it comes from.
 *
 * @module
 */

/** The token's signature algorithm (RFC 8037 EdDSA with Ed25519); verifiers accept nothing else. */
export const TOKEN_ALGORITHM = "EdDSA";

/** The algorithm name PublicKeys reports for every key. */
export const PUBLIC_KEY_ALGORITHM = "Ed25519";

/** The token header's `typ` (RFC 7519 §5.1). */
export const TOKEN_TYPE = "JWT";

/**
 * Clock skew a verifier tolerates on `iat` and `exp`: NTP-synced hosts agree
 * within a second; 30 s absorbs a badly synced VM without stretching a token
 * meaningfully.
 */
export const TOKEN_CLOCK_SKEW_MS = 30_000;

/** IssueToken accepts request timestamps this far from its own clock (±5 min, as Kerberos does). */
export const ISSUE_TIMESTAMP_WINDOW_MS = 300_000;

/** Longest token a verifier reads: real tokens are about 400 characters; bounds the work per check. */
export const MAX_TOKEN_CHARS = 4096;

/** Longest lifetime a verifier accepts (`exp - iat`): the config's one-day cap on durations. */
export const MAX_TOKEN_LIFETIME_MS = 86_400_000;

/** Verifiers refetch the service's public keys this often, so a rotation reaches them within minutes. */
export const KEY_REFRESH_INTERVAL_MS = 600_000;

/**
 * A token signed by an unknown `kid` triggers an early refetch (a rotation
 * just happened), at most this often, so a flood of bogus kids cannot make a
 * verifier hammer the service.
 */
export const UNKNOWN_KID_REFETCH_MIN_INTERVAL_MS = 30_000;

/**
 * First retry delay while the service is unreachable (1 s ×2 up to 30 s, like every background
 * retry).
 */
export const RETRY_INITIAL_MS = 1_000;
/** Growth of the retry delay. */
export const RETRY_FACTOR = 2;
/** Longest retry delay. */
export const RETRY_MAX_MS = 30_000;

/** Deadline of one RPC to the auth service. */
export const DEFAULT_RPC_TIMEOUT_MS = 10_000;

/** Largest RPC message either side reads: requests and answers are well under 1 KiB. */
export const RPC_MAX_MESSAGE_BYTES = 65_536;

/** Clients refresh their token at this fraction of its lifetime (80 %). */
export const DEFAULT_REFRESH_AT = 0.8;

/**
 * Domain separation of the IssueToken signature: the node's identity key
 * also signs libp2p handshakes, and a signature made for one purpose must
 * never be valid for another.
 */
export const ISSUE_TOKEN_SIGNATURE_CONTEXT = "p2proxy-auth-v1/IssueToken";
