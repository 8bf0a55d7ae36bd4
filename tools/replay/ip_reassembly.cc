#include "tools/replay/ip_reassembly.h"

#include <algorithm>
#include <cstring>

#include "core/bytes.h"

namespace rl::replay {

bool IpReassembler::Key::operator<(const Key& o) const {
  if (v6 != o.v6) return v6 < o.v6;
  if (id != o.id) return id < o.id;
  if (proto != o.proto) return proto < o.proto;
  if (!(src == o.src)) return src < o.src;
  return dst < o.dst;
}

namespace {
constexpr uint8_t kHopByHop = 0, kRouting = 43, kFragment = 44, kDestOpts = 60, kAh = 51,
                  kNoNext = 59, kMobility = 135;
std::string id_text(uint32_t id) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%x", id);
  return b;
}
}  // namespace

void IpReassembler::erase(std::map<Key, Pending>::iterator it) {
  held_bytes_ -= it->second.data.size();
  table_.erase(it);
}

void IpReassembler::expire(uint64_t frame, Diag& diag, const std::string& cap) {
  for (auto it = table_.begin(); it != table_.end();) {
    if (frame - it->second.first_frame > lim_.timeout_frames) {
      ++ctr_.expired;
      diag.warn(cap + ": frame " + std::to_string(frame), "IPv" + std::string(it->first.v6 ? "6" : "4") + " fragments of id " +
                           id_text(it->first.id) + " " + to_string(it->first.src) + " > " +
                           to_string(it->first.dst) + " (first in frame " +
                           std::to_string(it->second.first_frame) + ") still incomplete after " +
                           std::to_string(lim_.timeout_frames) + " frames: dropped");
      auto next = std::next(it);
      erase(it);
      it = next;
    } else {
      ++it;
    }
  }
}

void IpReassembler::flush(Diag& diag, const std::string& capture) {
  for (auto& [k, p] : table_) {
    diag.warn(capture + ": frame " + std::to_string(p.first_frame),
              "IPv" + std::string(k.v6 ? "6" : "4") + " fragments of id " + id_text(k.id) + " " +
                  to_string(k.src) + " > " + to_string(k.dst) +
                  " never completed by the end of the capture");
  }
  table_.clear();
  held_bytes_ = 0;
}

IpReassembler::Result IpReassembler::feed(ByteSpan ip, uint64_t frame, IpPacket& out, Diag& diag,
                                          const std::string& cap) {
  if (frame - last_sweep_ >= 256 && !table_.empty()) {
    last_sweep_ = frame;
    expire(frame, diag, cap);
  }
  auto bad = [&](const std::string& m) {
    ++ctr_.malformed;
    diag.warn(cap + ": frame " + std::to_string(frame), m);
    return Result::dropped;
  };
  if (ip.empty()) return bad("empty IP packet");
  const uint8_t ver = ip[0] >> 4;
  if (ver == 4) {
    if (ip.size() < 20) return bad("IPv4 header cut short (" + std::to_string(ip.size()) + " bytes)");
    const size_t ihl = (ip[0] & 15u) * 4u;
    const size_t total = load_be16(ip.data() + 2);
    if (ihl < 20 || total < ihl) return bad("IPv4 header length " + std::to_string(ihl) +
                                            " / total length " + std::to_string(total) + " invalid");
    if (total > ip.size())
      return bad("IPv4 packet cut short: total length " + std::to_string(total) + ", " +
                 std::to_string(ip.size()) + " bytes captured (snap length?)");
    ip = ip.first(total);  // drop Ethernet padding
    out.src = {};
    out.dst = {};
    out.src.family = out.dst.family = 4;
    std::memcpy(out.src.b, ip.data() + 12, 4);
    std::memcpy(out.dst.b, ip.data() + 16, 4);
    out.proto = ip[9];
    const uint16_t ff = load_be16(ip.data() + 6);
    const bool more = ff & 0x2000;
    const uint32_t off = (ff & 0x1fffu) * 8u;
    ByteSpan data = ip.subspan(ihl);
    if (!more && off == 0) {
      out.payload = data;
      out.reassembled = false;
      return Result::packet;
    }
    Key k{out.src, out.dst, load_be16(ip.data() + 4), out.proto, 0};
    return add_fragment(k, off, data, more, out.proto, frame, out, diag, cap);
  }
  if (ver == 6) {
    if (ip.size() < 40) return bad("IPv6 header cut short (" + std::to_string(ip.size()) + " bytes)");
    const size_t plen = load_be16(ip.data() + 4);
    if (plen == 0) return bad("IPv6 payload length 0 (jumbogram) not supported");
    if (40 + plen > ip.size())
      return bad("IPv6 packet cut short: payload length " + std::to_string(plen) + ", " +
                 std::to_string(ip.size() - 40) + " bytes captured (snap length?)");
    out.src = {};
    out.dst = {};
    out.src.family = out.dst.family = 6;
    std::memcpy(out.src.b, ip.data() + 8, 16);
    std::memcpy(out.dst.b, ip.data() + 24, 16);
    ByteSpan p = ip.subspan(40, plen);
    uint8_t nh = ip[6];
    // Walk extension headers up to the transport or to a fragment header.
    for (;;) {
      if (nh == kHopByHop || nh == kRouting || nh == kDestOpts || nh == kMobility || nh == kAh) {
        if (p.size() < 8) return bad("IPv6 extension header cut short");
        size_t len = nh == kAh ? (p[1] + 2u) * 4u : (p[1] + 1u) * 8u;
        if (len > p.size()) return bad("IPv6 extension header longer than the packet");
        nh = p[0];
        p = p.subspan(len);
        continue;
      }
      if (nh == kFragment) {
        if (p.size() < 8) return bad("IPv6 fragment header cut short");
        const uint16_t fo = load_be16(p.data() + 2);
        const uint32_t off = (fo >> 3) * 8u;
        const bool more = fo & 1;
        const uint8_t fnh = p[0];
        Key k{out.src, out.dst, load_be32(p.data() + 4), 0, 1};
        ByteSpan data = p.subspan(8);
        if (!more && off == 0) return finish_v6(data, fnh, out, diag, cap, frame) ? Result::packet
                                                                              : Result::dropped;
        return add_fragment(k, off, data, more, fnh, frame, out, diag, cap);
      }
      break;
    }
    if (nh == kNoNext) return Result::dropped;
    out.proto = nh;
    out.payload = p;
    out.reassembled = false;
    return Result::packet;
  }
  return bad("not IPv4 or IPv6 (version " + std::to_string(ver) + ")");
}

// After reassembly, an IPv6 payload may start with more extension headers.
bool IpReassembler::finish_v6(ByteSpan p, uint8_t nh, IpPacket& out, Diag& diag,
                              const std::string& cap, uint64_t frame) {
  for (;;) {
    if (nh == kHopByHop || nh == kRouting || nh == kDestOpts || nh == kMobility || nh == kAh) {
      if (p.size() < 8 || (nh == kAh ? (p[1] + 2u) * 4u : (p[1] + 1u) * 8u) > p.size()) {
        ++ctr_.malformed;
        diag.warn(cap + ": frame " + std::to_string(frame), "IPv6 extension header after fragment header cut short");
        return false;
      }
      size_t len = nh == kAh ? (p[1] + 2u) * 4u : (p[1] + 1u) * 8u;
      nh = p[0];
      p = p.subspan(len);
      continue;
    }
    break;
  }
  out.proto = nh;
  out.payload = p;
  return nh != kNoNext;
}

IpReassembler::Result IpReassembler::add_fragment(const Key& k, uint32_t off, ByteSpan data,
                                                  bool more, uint8_t nh, uint64_t frame,
                                                  IpPacket& out, Diag& diag,
                                                  const std::string& cap) {
  ++ctr_.fragments;
  const uint32_t end = off + static_cast<uint32_t>(data.size());
  if (end > 65535) {
    ++ctr_.malformed;
    diag.warn(cap + ": frame " + std::to_string(frame), "IP fragment ends at byte " + std::to_string(end) + ", past 65535: dropped");
    return Result::dropped;
  }
  if (more && data.size() % 8) {
    ++ctr_.malformed;
    diag.warn(cap + ": frame " + std::to_string(frame), "IP fragment that is not the last has a length not a multiple of 8: dropped");
    return Result::dropped;
  }
  auto it = table_.find(k);
  if (it == table_.end()) {
    while (table_.size() >= lim_.max_datagrams || held_bytes_ + end > lim_.max_bytes) {
      if (table_.empty()) break;
      auto oldest = std::min_element(table_.begin(), table_.end(), [](auto& a, auto& b) {
        return a.second.first_frame < b.second.first_frame;
      });
      ++ctr_.evicted;
      diag.warn(cap + ": frame " + std::to_string(frame), "too many incomplete IP datagrams held: dropping the one begun in frame " +
                           std::to_string(oldest->second.first_frame));
      erase(oldest);
    }
    it = table_.emplace(k, Pending{}).first;
    it->second.first_frame = frame;
  }
  Pending& p = it->second;
  if (!more) {
    if (p.total >= 0 && p.total != end) {
      ++ctr_.malformed;
      diag.warn(cap + ": frame " + std::to_string(frame), "IP fragments disagree about the datagram length: dropped");
      erase(it);
      return Result::dropped;
    }
    p.total = end;
  }
  if (off == 0) {
    p.has_first = true;
    p.next_header = nh;
  }
  if (p.data.size() < end) {
    held_bytes_ += end - p.data.size();
    p.data.resize(end);
  }
  // Copy only the bytes nobody delivered before: the first copy of a byte wins
  // (overlaps are counted; RFC 5722 forbids them in IPv6, we keep the datagram anyway).
  uint32_t cur = off;
  std::vector<std::pair<uint32_t, uint32_t>> merged;
  bool overlap = false;
  for (auto [b, e] : p.have) {
    if (e <= off || b >= end) continue;
    overlap = true;
  }
  for (auto [b, e] : p.have) {
    if (e <= cur || b >= end) continue;
    if (b > cur) std::memcpy(p.data.data() + cur, data.data() + (cur - off), b - cur);
    cur = std::max(cur, e);
  }
  if (cur < end) std::memcpy(p.data.data() + cur, data.data() + (cur - off), end - cur);
  if (overlap) ++ctr_.overlaps;
  p.have.emplace_back(off, end);
  std::sort(p.have.begin(), p.have.end());
  for (auto& r : p.have) {
    if (!merged.empty() && r.first <= merged.back().second)
      merged.back().second = std::max(merged.back().second, r.second);
    else
      merged.push_back(r);
  }
  p.have.swap(merged);
  if (p.total < 0 || !p.has_first || p.have.size() != 1 || p.have[0].first != 0 ||
      p.have[0].second != static_cast<uint32_t>(p.total))
    return Result::pending;
  out_.assign(p.data.begin(), p.data.begin() + p.total);
  const uint8_t first_nh = p.next_header;
  const bool v6 = k.v6;
  erase(it);
  ++ctr_.reassembled;
  out.reassembled = true;
  if (v6) return finish_v6(ByteSpan(out_), first_nh, out, diag, cap, frame) ? Result::packet
                                                                       : Result::dropped;
  out.payload = ByteSpan(out_);
  return Result::packet;
}

}  // namespace rl::replay
