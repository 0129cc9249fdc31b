/**
 * IPv4 and IPv6 addresses and CIDR blocks as numbers, so that validation can insist on a canonical
 * block (no host bits set) and the reachability tests can decide whether a block holds an address.
 */
import { isIPv4, isIPv6 } from "net";

/** An address family. */
export type IpFamily = 4 | 6;

/** A parsed address. */
export interface IpAddress {
    readonly family: IpFamily;
    readonly value: bigint;
}

/** A parsed CIDR block. */
export interface CidrBlock {
    readonly family: IpFamily;
    /** The network address (host bits zero when the block is canonical). */
    readonly network: bigint;
    readonly prefix: number;
    /** The block as written, trimmed. */
    readonly text: string;
}

const bits: Record<IpFamily, number> = { 4: 32, 6: 128 };

/** An IPv4 or IPv6 address as a number, or undefined when `text` is neither. */
export function parseIp(text: string): IpAddress | undefined {
    if (isIPv4(text)) {
        return { family: 4, value: text.split(".").reduce((acc, octet) => (acc << 8n) | BigInt(octet), 0n) };
    }
    if (isIPv6(text)) {
        // An embedded IPv4 tail (::ffff:10.0.0.1) counts as two groups.
        const withV4 = text.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a, b, c, d) =>
            [((+a << 8) | +b).toString(16), ((+c << 8) | +d).toString(16)].join(":"),
        );
        const [head, tail] = withV4.includes("::") ? withV4.split("::") : [withV4, undefined];
        const headGroups = head ? head.split(":") : [];
        const tailGroups = tail ? tail.split(":") : [];
        const missing = 8 - headGroups.length - tailGroups.length;
        const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(missing).fill("0"), ...tailGroups];
        return { family: 6, value: groups.reduce((acc, group) => (acc << 16n) | BigInt(parseInt(group, 16)), 0n) };
    }
    return undefined;
}

/** `address/prefix`, or undefined when `text` is not a CIDR block. Host bits may be set; see `isCanonical`. */
export function parseCidr(text: string): CidrBlock | undefined {
    const match = /^([^/\s]+)\/(\d{1,3})$/.exec(text.trim());
    const address = match ? parseIp(match[1]) : undefined;
    if (!match || !address) {
        return undefined;
    }
    const prefix = Number(match[2]);
    if (prefix > bits[address.family]) {
        return undefined;
    }
    return { family: address.family, network: address.value, prefix, text: text.trim() };
}

function mask(family: IpFamily, prefix: number): bigint {
    const width = BigInt(bits[family]);
    return ((1n << width) - 1n) ^ ((1n << (width - BigInt(prefix))) - 1n);
}

/** Whether the block's host bits are all zero (`10.0.0.0/8`, not `10.1.2.3/8`). */
export function isCanonical(block: CidrBlock): boolean {
    return (block.network & mask(block.family, block.prefix)) === block.network;
}

/** The canonical spelling of a block (`10.1.2.3/8` -> `10.0.0.0/8`). */
export function canonicalCidr(block: CidrBlock): string {
    const network = block.network & mask(block.family, block.prefix);
    if (block.family === 4) {
        return `${[24n, 16n, 8n, 0n].map((shift) => (network >> shift) & 255n).join(".")}/${block.prefix}`;
    }
    const groups = Array.from({ length: 8 }, (_, i) => ((network >> BigInt(112 - 16 * i)) & 0xffffn).toString(16));
    // Compress the longest run of zero groups, as RFC 5952 spells addresses.
    const joined = `:${groups.join(":")}:`;
    const runs = joined.match(/(:0)+:/g) ?? [];
    const longest = runs.reduce((a, b) => (b.length > a.length ? b : a), "");
    const compressed = longest.length > 3 ? joined.replace(longest, "::") : joined;
    return `${compressed.replace(/^:(?!:)|(?<!:):$/g, "")}/${block.prefix}`;
}

/** Whether `address` lies in `block`. */
export function cidrContains(block: CidrBlock, address: IpAddress): boolean {
    const m = mask(block.family, block.prefix);
    return address.family === block.family && (address.value & m) === (block.network & m);
}
