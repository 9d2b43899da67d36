/**
 * Offloads a link may offer (a TUN device opened with IFF_VNET_HDR and
 * TUNSETOFFLOAD): per packet, one number, the offload word, travels next to
 * the bytes. The same layout is used by the native addon (src/tun/tun_addon.cc).
 *
 * - Segmentation (TSO/GRO): a TCP/IPv4 "super-packet" of up to 64 KB whose
 *   payload the wire carries as segments of `segmentSize` bytes. We send
 *   one and the kernel cuts it (or, delivering locally, takes it whole, as
 *   after GRO); the kernel hands us one as its own TCP wrote it, before
 *   segmentation. Either way a super-packet is one TCP segment as far as TCP
 *   is concerned, with the one difference that "full-sized segment" means
 *   `segmentSize` (Linux's gso_size), not the packet's length.
 * - Checksum: CSUM_PARTIAL means the TCP checksum field holds only the
 *   pseudo-header sum (CHECKSUM_PARTIAL); the kernel finishes it, or, for
 *   local delivery, trusts it. CSUM_VALID means the kernel verified it.
 */

/** Bits 0-15: the segment size of a super-packet; 0 for an ordinary packet. */
export const OFFLOAD_SEGMENT_MASK = 0xffff;
/** The transport checksum is partial: only the pseudo-header sum is in it. */
export const OFFLOAD_CSUM_PARTIAL = 1 << 16;
/** The checksum was verified by whoever handed us the packet. */
export const OFFLOAD_CSUM_VALID = 1 << 17;

/** The largest super-packet: the IPv4 total-length field's limit. */
export const MAX_SUPER_PACKET = 65535;

export function offloadSegmentSize(word: number): number {
  return word & OFFLOAD_SEGMENT_MASK;
}

/** True when the TCP checksum of a packet with this word must not be checked by us. */
export function checksumTrusted(word: number): boolean {
  return (word & (OFFLOAD_CSUM_PARTIAL | OFFLOAD_CSUM_VALID)) !== 0;
}
