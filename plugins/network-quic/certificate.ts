/**
 * The exit's QUIC certificate: a self-signed leaf (ECDSA P-256), made in memory at every start
 * and never written anywhere. Proxies do not trust it because of who signed it — nobody did —
 * but because the exit handed it to them over its noise-authenticated libp2p connection, and
 * they pin exactly it (docs/wire-protocols.md#quic).
 *
 * Made with `pkijs` over WebCrypto: Deno's rustls refuses a self-signed certificate marked as a
 * CA for a server (`CaUsedAsEndEntity`), so it must carry `basicConstraints` critical, `cA`
 * false, and a subject alternative name for the name the proxy asks for.
 *
 * @module
 */
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { CERTIFICATE_LIFETIME_MS } from "./constants.ts";

/** A certificate and its key, as Deno's QUIC takes them. */
export interface QuicCertificate {
  /** The certificate, PEM (for `QuicEndpoint.listen` and a proxy's `caCerts`). */
  readonly certPem: string;
  /** The private key, PKCS #8 PEM (for `QuicEndpoint.listen`). */
  readonly keyPem: string;
  /** The certificate, DER (what the offer carries). */
  readonly der: Uint8Array;
  /** The name it is issued for. */
  readonly serverName: string;
}

const ECDSA_P256 = { name: "ECDSA", namedCurve: "P-256" } as const;

/** OIDs of what the certificate says. */
const OID = {
  commonName: "2.5.4.3",
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extendedKeyUsage: "2.5.29.37",
  subjectAltName: "2.5.29.17",
  serverAuth: "1.3.6.1.5.5.7.3.1",
} as const;

/** `digitalSignature`, the one use a TLS 1.3 server key has (bit 0 of the KeyUsage bit string). */
const KEY_USAGE_DIGITAL_SIGNATURE = 0x80;

/**
 * A new self-signed leaf certificate for `serverName`, valid from a minute ago (clock skew)
 * for `lifetimeMs`.
 *
 * @example
 * ```ts
 * const { certPem, keyPem } = await makeSelfSignedCertificate("exit.p2proxy.invalid");
 * new Deno.QuicEndpoint({ hostname: "127.0.0.1" }).listen({ cert: certPem, key: keyPem, alpnProtocols: ["p2proxy/1"] });
 * ```
 */
export async function makeSelfSignedCertificate(
  serverName: string,
  lifetimeMs: number = CERTIFICATE_LIFETIME_MS,
  now: number = Date.now(),
): Promise<QuicCertificate> {
  const keys = await crypto.subtle.generateKey(ECDSA_P256, true, ["sign", "verify"]);
  const certificate = new pkijs.Certificate();
  certificate.version = 2; // X.509 v3
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0]! &= 0x7f; // a positive INTEGER
  certificate.serialNumber = new asn1js.Integer({ valueHex: serial.buffer });
  for (const name of [certificate.issuer, certificate.subject]) {
    name.typesAndValues.push(
      new pkijs.AttributeTypeAndValue({
        type: OID.commonName,
        value: new asn1js.Utf8String({ value: serverName }),
      }),
    );
  }
  certificate.notBefore.value = new Date(now - 60_000);
  certificate.notAfter.value = new Date(now + lifetimeMs);
  const basicConstraints = new pkijs.BasicConstraints({ cA: false });
  const keyUsage = new asn1js.BitString({
    valueHex: new Uint8Array([KEY_USAGE_DIGITAL_SIGNATURE]).buffer,
    unusedBits: 7,
  });
  const extendedKeyUsage = new pkijs.ExtKeyUsage({ keyPurposes: [OID.serverAuth] });
  const altNames = new pkijs.GeneralNames({
    names: [new pkijs.GeneralName({ type: 2, value: serverName })], // 2: dNSName
  });
  certificate.extensions = [
    extension(OID.basicConstraints, true, basicConstraints.toSchema(), basicConstraints),
    extension(OID.keyUsage, true, keyUsage),
    extension(OID.extendedKeyUsage, false, extendedKeyUsage.toSchema(), extendedKeyUsage),
    extension(OID.subjectAltName, false, altNames.toSchema(), altNames),
  ];
  await certificate.subjectPublicKeyInfo.importKey(keys.publicKey);
  await certificate.sign(keys.privateKey, "SHA-256");
  const der = new Uint8Array(certificate.toSchema(true).toBER(false));
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  return {
    certPem: toPem("CERTIFICATE", der),
    keyPem: toPem("PRIVATE KEY", pkcs8),
    der,
    serverName,
  };
}

/** A DER certificate as PEM, for `caCerts`. */
export function certificatePem(der: Uint8Array): string {
  return toPem("CERTIFICATE", der);
}

function extension(
  id: string,
  critical: boolean,
  value: asn1js.AsnType,
  parsedValue?: unknown,
): pkijs.Extension {
  return new pkijs.Extension({
    extnID: id,
    critical,
    extnValue: value.toBER(false),
    ...(parsedValue === undefined ? {} : { parsedValue }),
  });
}

function toPem(label: string, der: Uint8Array): string {
  let binary = "";
  for (const byte of der) binary += String.fromCharCode(byte);
  const lines = btoa(binary).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}
