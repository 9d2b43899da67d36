// The native half of the TUN link.
//
// Why native at all: reading a TUN fd through fs.read goes through libuv's
// threadpool one packet per round trip (12-40x slower here) and left pending
// reads that hung process exit. Instead we wait for readiness on Node's own
// event loop (uv_poll, level-triggered), drain the fd with read(2) into one
// reused arena until EAGAIN or a full batch, and call JavaScript once per
// batch. Nothing is allocated per packet on the read path.

#include <napi.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cctype>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace {

// A batch ends at whichever comes first: EAGAIN, kMaxBatch packets, or less
// than one maximal packet of room left in the arena. uv_poll is
// level-triggered, so whatever is left is read on the next loop turn.
constexpr uint32_t kMaxBatch = 256;
// Room for the largest IPv4 packet plus a virtio-net header (IFF_VNET_HDR);
// read(2) on a TUN truncates a packet that does not fit, so every read must
// offer this much.
constexpr size_t kMaxRead = 65536 + 16;
constexpr size_t kArenaBytes = 2 * 1024 * 1024;
// A TUN write practically never returns EAGAIN (the kernel consumes the skb
// inside write(2)), so the queue is a safety net, bounded in both dimensions.
constexpr size_t kMaxQueuedPackets = 4096;
constexpr size_t kMaxQueuedBytes = 16 * 1024 * 1024;
constexpr int kMaxEintrRetries = 8;
constexpr const char* kNetnsRunDir = "/var/run/netns/";

// Per-packet offload word shared with JavaScript (src/link/offload.ts): the
// low 16 bits are the segment size of a TSO/GRO super-packet (0: an ordinary
// packet), then two checksum states.
constexpr uint32_t kOffloadSegmentMask = 0xffff;
// The transport checksum field holds only the pseudo-header sum; whoever
// receives the packet completes it or, delivering locally, trusts it
// (VIRTIO_NET_HDR_F_NEEDS_CSUM, CHECKSUM_PARTIAL in the kernel).
constexpr uint32_t kOffloadCsumPartial = 1u << 16;
// The kernel has verified the checksum (VIRTIO_NET_HDR_F_DATA_VALID).
constexpr uint32_t kOffloadCsumValid = 1u << 17;
// Entries per packet in `meta`: offset, length, offload word.
constexpr uint32_t kMetaStride = 3;
// struct virtio_net_hdr (the virtio spec, 5.1.6): flags, gso_type,
// hdr_len, gso_size, csum_start, csum_offset. Spelled out here because
// <linux/virtio_net.h> does not compile as C++ (a field is named `class`).
constexpr size_t kVnetHdrLen = 10;
constexpr uint8_t VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
constexpr uint8_t VIRTIO_NET_HDR_F_DATA_VALID = 2;
constexpr uint8_t VIRTIO_NET_HDR_GSO_TCPV4 = 1;
constexpr uint8_t VIRTIO_NET_HDR_GSO_ECN = 0x80;

// The virtio-net header fields are little-endian on the little-endian hosts
// this runs on (TUN's default; TUNSETVNETBE is never set).
uint16_t Le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
void PutLe16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v & 0xff);
  p[1] = static_cast<uint8_t>(v >> 8);
}

// The offload word of a packet the kernel handed us, from its vnet header.
uint32_t OffloadFromVnetHdr(const uint8_t* h) {
  uint32_t word = 0;
  const uint8_t flags = h[0];
  const uint8_t gsoType = h[1] & ~VIRTIO_NET_HDR_GSO_ECN;
  if (gsoType == VIRTIO_NET_HDR_GSO_TCPV4) word |= Le16(h + 4) & kOffloadSegmentMask;
  if (flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) word |= kOffloadCsumPartial;
  if (flags & VIRTIO_NET_HDR_F_DATA_VALID) word |= kOffloadCsumValid;
  return word;
}

// The vnet header for a packet we send. A super-packet (segment size set)
// must be IPv4/TCP: the kernel cuts it into segments of that size
// (VIRTIO_NET_HDR_GSO_TCPV4) and, like a partial checksum, finishes the TCP
// checksum of each. Returns false for a packet that cannot carry the word.
bool VnetHdrFor(const uint8_t* data, size_t len, uint32_t word, uint8_t* h) {
  memset(h, 0, kVnetHdrLen);
  const uint32_t segment = word & kOffloadSegmentMask;
  if (segment == 0 && (word & kOffloadCsumPartial) == 0) return true;
  if (len < 40 || (data[0] >> 4) != 4 || data[9] != IPPROTO_TCP) return false;
  const size_t ipHeader = static_cast<size_t>(data[0] & 0x0f) * 4;
  if (ipHeader < 20 || ipHeader + 20 > len) return false;
  const size_t tcpHeader = static_cast<size_t>(data[ipHeader + 12] >> 4) * 4;
  if (tcpHeader < 20 || ipHeader + tcpHeader > len) return false;
  h[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  PutLe16(h + 6, static_cast<uint16_t>(ipHeader));  // csum_start
  PutLe16(h + 8, 16);                               // csum_offset: TCP checksum field
  if (segment != 0) {
    h[1] = VIRTIO_NET_HDR_GSO_TCPV4;
    PutLe16(h + 2, static_cast<uint16_t>(ipHeader + tcpHeader));  // hdr_len
    PutLe16(h + 4, static_cast<uint16_t>(segment));               // gso_size
  }
  return true;
}

std::string ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return name != nullptr ? std::string(name) : "errno " + std::to_string(err);
}

struct OpenError {
  std::string code;
  int err = 0;
  std::string syscall;
  std::string message;
};

OpenError SysError(int err, const char* syscall, std::string message) {
  return OpenError{ErrnoName(err), err, syscall, std::move(message)};
}

Napi::Error MakeError(Napi::Env env, const OpenError& e) {
  Napi::Error error = Napi::Error::New(env, e.message);
  error.Set("code", Napi::String::New(env, e.code));
  // Node's system errors carry the negated errno, as libuv reports it.
  if (e.err != 0) error.Set("errno", Napi::Number::New(env, -e.err));
  if (!e.syscall.empty()) error.Set("syscall", Napi::String::New(env, e.syscall));
  return error;
}

// The kernel's own rule (dev_valid_name), checked here so that a bad name
// gets a message instead of a bare EINVAL from TUNSETIFF.
bool ValidInterfaceName(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ || name == "." || name == "..") return false;
  for (unsigned char c : name) {
    if (c == '/' || c == ':' || std::isspace(c) || c == 0) return false;
  }
  return true;
}

struct Fd {
  int fd = -1;
  Fd() = default;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  int Release() {
    int f = fd;
    fd = -1;
    return f;
  }
};

int OpenRetrying(const char* path, int flags) {
  for (int i = 0; i < kMaxEintrRetries; ++i) {
    int fd = ::open(path, flags);
    if (fd >= 0 || errno != EINTR) return fd;
  }
  return -1;
}

// setns(2) moves only the calling thread, so the main thread steps into the
// target namespace for the few syscalls that bind to it (open of
// /dev/net/tun fixes the namespace TUNSETIFF looks in; socket() fixes the one
// SIOCGIFMTU asks) and steps back before any JavaScript runs again.
class NetnsVisit {
 public:
  NetnsVisit() = default;
  NetnsVisit(const NetnsVisit&) = delete;
  NetnsVisit& operator=(const NetnsVisit&) = delete;
  ~NetnsVisit() {
    if (entered_ && ::setns(home_.fd, CLONE_NEWNET) != 0) {
      // Continuing would run the whole process in the wrong namespace.
      Napi::Error::Fatal("tuntcp_tun", "could not return to the original network namespace");
    }
  }

  bool Enter(const std::string& netns, OpenError* error) {
    std::string path;
    if (!netns.empty() && netns[0] == '/') {
      path = netns;
    } else {
      if (netns.empty() || netns == "." || netns == ".." || netns.find('/') != std::string::npos) {
        *error = OpenError{"EINVAL", EINVAL, "",
                           "invalid network namespace name '" + netns +
                               "': give a name under /var/run/netns or an absolute path"};
        return false;
      }
      path = kNetnsRunDir + netns;
    }
    home_.fd = OpenRetrying("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home_.fd < 0) {
      int err = errno;
      *error = SysError(err, "open",
                        std::string("cannot open /proc/thread-self/ns/net to remember the current network namespace: ") +
                            strerror(err));
      return false;
    }
    Fd target;
    target.fd = OpenRetrying(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (target.fd < 0) {
      int err = errno;
      if (err == ENOENT) {
        *error = SysError(err, "open",
                          "network namespace '" + netns + "' does not exist (scripts/setup-tun.sh up creates it)");
      } else {
        *error = SysError(err, "open", "cannot open network namespace '" + netns + "': " + strerror(err));
      }
      return false;
    }
    if (::setns(target.fd, CLONE_NEWNET) != 0) {
      int err = errno;
      if (err == EPERM) {
        *error = SysError(err, "setns",
                          "entering network namespace '" + netns + "' needs CAP_SYS_ADMIN (run as root)");
      } else if (err == EINVAL) {
        *error = SysError(err, "setns", "'" + path + "' is not a network namespace");
      } else {
        *error = SysError(err, "setns", "cannot enter network namespace '" + netns + "': " + strerror(err));
      }
      return false;
    }
    entered_ = true;
    return true;
  }

 private:
  Fd home_;
  bool entered_ = false;
};

struct OpenRequest {
  std::string name;
  std::string netns;  // empty: the caller's namespace
  bool vnetHdr = false;
  unsigned offload = 0;
};

struct OpenResult {
  int fd = -1;
  std::string name;
  int mtu = 1500;
};

bool OpenTun(const OpenRequest& req, OpenResult* out, OpenError* error) {
  if (!ValidInterfaceName(req.name)) {
    *error = OpenError{"EINVAL", EINVAL, "",
                       "invalid TUN device name '" + req.name +
                           "': 1 to 15 characters, without '/', ':' or spaces"};
    return false;
  }
  NetnsVisit visit;
  if (!req.netns.empty() && !visit.Enter(req.netns, error)) return false;

  Fd tun;
  tun.fd = OpenRetrying("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (tun.fd < 0) {
    int err = errno;
    if (err == ENOENT) {
      *error = SysError(err, "open", "the tun driver is missing: /dev/net/tun does not exist (modprobe tun)");
    } else if (err == ENODEV || err == ENXIO) {
      *error = SysError(err, "open", "the tun driver is missing: /dev/net/tun has no driver behind it (modprobe tun)");
    } else if (err == EPERM || err == EACCES) {
      *error = SysError(err, "open", "opening a TUN device needs CAP_NET_ADMIN (run as root, or grant it)");
    } else {
      *error = SysError(err, "open", std::string("cannot open /dev/net/tun: ") + strerror(err));
    }
    return false;
  }

  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (req.vnetHdr ? IFF_VNET_HDR : 0);
  memcpy(ifr.ifr_name, req.name.data(), req.name.size());
  if (::ioctl(tun.fd, TUNSETIFF, &ifr) != 0) {
    int err = errno;
    const std::string dev = "'" + req.name + "'";
    if (err == EPERM || err == EACCES) {
      *error = SysError(err, "ioctl", "opening a TUN device needs CAP_NET_ADMIN (run as root, or grant it)");
    } else if (err == EBUSY) {
      *error = SysError(err, "ioctl", "TUN device " + dev + " is busy: another process has it open");
    } else if (err == EINVAL) {
      *error = SysError(err, "ioctl",
                        "cannot open TUN device " + dev +
                            ": a network device with that name exists and is not a single-queue TUN device");
    } else {
      *error = SysError(err, "ioctl", "cannot attach TUN device " + dev + ": " + strerror(err));
    }
    return false;
  }
  if (req.vnetHdr && req.offload != 0 && ::ioctl(tun.fd, TUNSETOFFLOAD, req.offload) != 0) {
    int err = errno;
    *error = SysError(err, "ioctl", std::string("TUNSETOFFLOAD refused the offload flags: ") + strerror(err));
    return false;
  }
  ifr.ifr_name[IFNAMSIZ - 1] = '\0';
  out->name = ifr.ifr_name;

  // The socket must be created inside the namespace: SIOCGIFMTU looks the
  // name up in the socket's namespace, not the thread's.
  Fd sock;
  sock.fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock.fd >= 0) {
    struct ifreq mtuReq;
    memset(&mtuReq, 0, sizeof mtuReq);
    memcpy(mtuReq.ifr_name, ifr.ifr_name, IFNAMSIZ);
    if (::ioctl(sock.fd, SIOCGIFMTU, &mtuReq) == 0 && mtuReq.ifr_mtu > 0) out->mtu = mtuReq.ifr_mtu;
  }
  out->fd = tun.Release();
  return true;
}

struct AddonData {
  Napi::FunctionReference ctor;
};

class TunHandle : public Napi::ObjectWrap<TunHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "TunHandle",
                       {
                           InstanceMethod<&TunHandle::Start>("start"),
                           InstanceMethod<&TunHandle::Write>("write"),
                           InstanceMethod<&TunHandle::WriteBatch>("writeBatch"),
                           InstanceMethod<&TunHandle::Close>("close"),
                           InstanceMethod<&TunHandle::RefLoop>("ref"),
                           InstanceMethod<&TunHandle::UnrefLoop>("unref"),
                           InstanceMethod<&TunHandle::Stats>("stats"),
                           InstanceMethod<&TunHandle::DebugBlockWrites>("debugBlockWrites"),
                       });
  }

  explicit TunHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TunHandle>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) {
      Napi::TypeError::New(env, "open() needs an options object: { name, netns?, vnetHdr? }")
          .ThrowAsJavaScriptException();
      return;
    }
    Napi::Object opts = info[0].As<Napi::Object>();
    OpenRequest req;
    Napi::Value name = opts.Get("name");
    if (!name.IsString()) {
      Napi::TypeError::New(env, "open(): options.name must be a string").ThrowAsJavaScriptException();
      return;
    }
    req.name = name.As<Napi::String>().Utf8Value();
    Napi::Value netns = opts.Get("netns");
    if (netns.IsString()) {
      req.netns = netns.As<Napi::String>().Utf8Value();
      if (req.netns.empty()) {
        Napi::TypeError::New(env, "open(): options.netns must not be empty").ThrowAsJavaScriptException();
        return;
      }
    } else if (!netns.IsUndefined() && !netns.IsNull()) {
      Napi::TypeError::New(env, "open(): options.netns must be a string").ThrowAsJavaScriptException();
      return;
    }
    req.vnetHdr = opts.Get("vnetHdr").ToBoolean().Value();
    Napi::Value offload = opts.Get("offload");
    if (offload.IsNumber()) req.offload = offload.As<Napi::Number>().Uint32Value();

    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      Napi::Error::New(env, "cannot get the libuv event loop").ThrowAsJavaScriptException();
      return;
    }

    OpenResult result;
    OpenError error;
    if (!OpenTun(req, &result, &error)) {
      MakeError(env, error).ThrowAsJavaScriptException();
      return;
    }
    Fd fd;
    fd.fd = result.fd;

    auto poll = std::make_unique<uv_poll_t>();
    int rc = uv_poll_init(loop, poll.get(), fd.fd);
    if (rc != 0) {
      int err = -rc;
      MakeError(env, SysError(err, "uv_poll_init", std::string("cannot poll the TUN fd: ") + uv_strerror(rc)))
          .ThrowAsJavaScriptException();
      return;
    }
    poll->data = this;
    poll_ = poll.release();
    fd_ = fd.Release();
    closed_ = false;
    vnetHdr_ = req.vnetHdr;

    Napi::ArrayBuffer arena = Napi::ArrayBuffer::New(env, kArenaBytes);
    Napi::Uint32Array meta = Napi::Uint32Array::New(env, kMaxBatch * kMetaStride);
    arenaRef_ = Napi::Persistent(arena);
    metaRef_ = Napi::Persistent(meta);

    Napi::Object self = info.This().As<Napi::Object>();
    // Read-only and non-configurable: the JS side keeps views over `arena`,
    // and the C++ side writes into it.
    self.DefineProperties({
        Napi::PropertyDescriptor::Value("name", Napi::String::New(env, result.name), napi_enumerable),
        Napi::PropertyDescriptor::Value("mtu", Napi::Number::New(env, result.mtu), napi_enumerable),
        Napi::PropertyDescriptor::Value("netns", req.netns.empty() ? env.Null() : Napi::String::New(env, req.netns),
                                        napi_enumerable),
        Napi::PropertyDescriptor::Value("vnetHdr", Napi::Boolean::New(env, req.vnetHdr), napi_enumerable),
        Napi::PropertyDescriptor::Value("arena", arena, napi_enumerable),
        Napi::PropertyDescriptor::Value("meta", meta, napi_enumerable),
    });

    // An open device must not be collected out from under its poll handle;
    // close() drops this reference.
    Ref();
    pinned_ = true;
    napi_add_env_cleanup_hook(env, OnEnvCleanup, this);
    cleanupHook_ = true;
  }

  ~TunHandle() override {
    if (!closed_) Shutdown(false);
  }

 private:
  // start(onRead): onRead(count, errno) is called once per batch; packet i
  // is meta[3i] (offset) and meta[3i+1] (length) into arena, meta[3i+2] its
  // offload word (0 without IFF_VNET_HDR). A non-zero errno means reading
  // failed and has stopped.
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (closed_) {
      ThrowClosed(env);
      return env.Undefined();
    }
    if (info.Length() < 1 || !info[0].IsFunction()) {
      Napi::TypeError::New(env, "start() needs a callback").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    onRead_ = Napi::Persistent(info[0].As<Napi::Function>());
    if (!asyncContext_) asyncContext_ = std::make_unique<Napi::AsyncContext>(env, "TUNWRAP", Value());
    reading_ = true;
    int rc = UpdatePoll();
    if (rc != 0) {
      reading_ = false;
      MakeError(env, SysError(-rc, "uv_poll_start", std::string("cannot poll the TUN fd: ") + uv_strerror(rc)))
          .ThrowAsJavaScriptException();
    }
    return env.Undefined();
  }

  Napi::Value Write(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const uint8_t* data = nullptr;
    size_t len = 0;
    if (info.Length() < 1 || !BytesOf(env, info[0], &data, &len)) {
      Napi::TypeError::New(env, "write() needs a Uint8Array").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    uint32_t word = 0;
    if (info.Length() > 1 && info[1].IsNumber()) word = info[1].As<Napi::Number>().Uint32Value();
    WriteOne(data, len, word);
    UpdatePoll();
    return env.Undefined();
  }

  Napi::Value WriteBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsArray()) {
      Napi::TypeError::New(env, "writeBatch() needs an array of Uint8Array").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Array packets = info[0].As<Napi::Array>();
    uint32_t count = packets.Length();
    // Offload words: a Uint32Array (or an array of numbers) parallel to
    // `packets`; absent means 0 for every packet.
    const uint32_t* words = nullptr;
    Napi::Array wordArray;
    bool haveWordArray = false;
    if (info.Length() > 1 && !info[1].IsUndefined() && !info[1].IsNull()) {
      if (info[1].IsTypedArray() && info[1].As<Napi::TypedArray>().TypedArrayType() == napi_uint32_array &&
          info[1].As<Napi::Uint32Array>().ElementLength() >= count) {
        words = info[1].As<Napi::Uint32Array>().Data();
      } else if (info[1].IsArray() && info[1].As<Napi::Array>().Length() >= count) {
        wordArray = info[1].As<Napi::Array>();
        haveWordArray = true;
      } else {
        Napi::TypeError::New(env, "writeBatch(): offload words must be a Uint32Array or an array as long as the packets")
            .ThrowAsJavaScriptException();
        return env.Undefined();
      }
    }
    // Validate first so that a bad element does not leave half a batch sent.
    for (uint32_t i = 0; i < count; ++i) {
      const uint8_t* data = nullptr;
      size_t len = 0;
      if (!BytesOf(env, packets.Get(i), &data, &len)) {
        Napi::TypeError::New(env, "writeBatch(): element " + std::to_string(i) + " is not a Uint8Array")
            .ThrowAsJavaScriptException();
        return env.Undefined();
      }
    }
    for (uint32_t i = 0; i < count; ++i) {
      const uint8_t* data = nullptr;
      size_t len = 0;
      BytesOf(env, packets.Get(i), &data, &len);
      uint32_t word = words != nullptr ? words[i] : 0;
      if (haveWordArray) {
        Napi::Value w = wordArray.Get(i);
        word = w.IsNumber() ? w.As<Napi::Number>().Uint32Value() : 0;
      }
      WriteOne(data, len, word);
    }
    UpdatePoll();
    return env.Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (!closed_) Shutdown(true);
    return info.Env().Undefined();
  }

  Napi::Value RefLoop(const Napi::CallbackInfo& info) {
    if (poll_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
    return info.Env().Undefined();
  }

  Napi::Value UnrefLoop(const Napi::CallbackInfo& info) {
    if (poll_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    auto set = [&](const char* key, double v) { o.Set(key, Napi::Number::New(env, v)); };
    set("packetsRead", static_cast<double>(packetsRead_));
    set("bytesRead", static_cast<double>(bytesRead_));
    set("batches", static_cast<double>(batches_));
    set("readErrors", static_cast<double>(readErrors_));
    set("packetsWritten", static_cast<double>(packetsWritten_));
    set("bytesWritten", static_cast<double>(bytesWritten_));
    set("writeQueued", static_cast<double>(writeQueued_));
    set("writeDropped", static_cast<double>(writeDropped_));
    set("writeErrors", static_cast<double>(writeErrors_));
    set("queueLength", static_cast<double>(queue_.size()));
    return o;
  }

  // Test hook: the next `attempts` write(2) calls behave as if the kernel had
  // answered EAGAIN, which a TUN otherwise almost never does, so that the
  // queueing path can be exercised for real.
  Napi::Value DebugBlockWrites(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) {
      Napi::TypeError::New(env, "debugBlockWrites() needs a count").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    int64_t n = info[0].As<Napi::Number>().Int64Value();
    blockWrites_ = n > 0 ? static_cast<uint64_t>(n) : 0;
    return env.Undefined();
  }

  static bool BytesOf(Napi::Env env, Napi::Value value, const uint8_t** data, size_t* len) {
    if (!value.IsTypedArray()) return false;
    napi_typedarray_type type;
    size_t length = 0;
    void* ptr = nullptr;
    if (napi_get_typedarray_info(env, value, &type, &length, &ptr, nullptr, nullptr) != napi_ok) return false;
    if (type != napi_uint8_array && type != napi_uint8_clamped_array) return false;
    *data = static_cast<const uint8_t*>(ptr);
    *len = length;
    return true;
  }

  void ThrowClosed(Napi::Env env) {
    Napi::Error e = Napi::Error::New(env, "the TUN device is closed");
    e.Set("code", Napi::String::New(env, "ERR_TUN_CLOSED"));
    e.ThrowAsJavaScriptException();
  }

  // `header` (the vnet header, or nullptr) and the packet leave in one
  // writev(2): the kernel takes them as one packet, nothing is copied here.
  ssize_t RawWrite(const uint8_t* header, const uint8_t* data, size_t len) {
    if (blockWrites_ > 0) {
      --blockWrites_;
      errno = EAGAIN;
      return -1;
    }
    struct iovec iov[2];
    int n = 0;
    if (header != nullptr) iov[n++] = {const_cast<uint8_t*>(header), kVnetHdrLen};
    iov[n++] = {const_cast<uint8_t*>(data), len};
    for (int i = 0; i < kMaxEintrRetries; ++i) {
      ssize_t w = n == 1 ? ::write(fd_, data, len) : ::writev(fd_, iov, n);
      if (w >= 0 || errno != EINTR) return w;
    }
    return -1;
  }

  // Order is kept: once something waits in the queue, new packets go behind it.
  void WriteOne(const uint8_t* data, size_t len, uint32_t word) {
    if (closed_) {
      ++writeDropped_;
      return;
    }
    uint8_t header[kVnetHdrLen];
    if (vnetHdr_) {
      if (!VnetHdrFor(data, len, word, header)) {
        ++writeErrors_;
        return;
      }
    } else if (word != 0) {
      // Without IFF_VNET_HDR the kernel could neither cut a super-packet nor
      // finish a checksum: the packet would arrive broken.
      ++writeErrors_;
      return;
    }
    const uint8_t* h = vnetHdr_ ? header : nullptr;
    if (!queue_.empty()) {
      Enqueue(h, data, len);
      return;
    }
    ssize_t w = RawWrite(h, data, len);
    if (w >= 0) {
      ++packetsWritten_;
      bytesWritten_ += len;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      Enqueue(h, data, len);
    } else {
      // A malformed packet (EINVAL) or a device gone away: the packet is lost,
      // as it would be on a wire; the counter tells.
      ++writeErrors_;
    }
  }

  // A queued packet keeps its vnet header in front (written as one buffer).
  void Enqueue(const uint8_t* header, const uint8_t* data, size_t len) {
    if (queue_.size() >= kMaxQueuedPackets || queuedBytes_ + len > kMaxQueuedBytes) {
      ++writeDropped_;
      return;
    }
    std::vector<uint8_t> p;
    p.reserve(len + (header != nullptr ? kVnetHdrLen : 0));
    if (header != nullptr) p.insert(p.end(), header, header + kVnetHdrLen);
    p.insert(p.end(), data, data + len);
    queue_.push_back(std::move(p));
    queuedBytes_ += len;
    ++writeQueued_;
  }

  void FlushQueue() {
    const size_t headerLen = vnetHdr_ ? kVnetHdrLen : 0;
    while (!queue_.empty() && !closed_) {
      const std::vector<uint8_t>& p = queue_.front();
      ssize_t w = RawWrite(nullptr, p.data(), p.size());
      if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      const size_t len = p.size() - headerLen;
      if (w >= 0) {
        ++packetsWritten_;
        bytesWritten_ += len;
      } else {
        ++writeErrors_;
      }
      queuedBytes_ -= len;
      queue_.pop_front();
    }
  }

  int UpdatePoll() {
    if (poll_ == nullptr || failed_) return 0;
    int events = (reading_ ? UV_READABLE : 0) | (!queue_.empty() ? UV_WRITABLE : 0);
    if (events == pollEvents_) return 0;
    int rc = events == 0 ? uv_poll_stop(poll_) : uv_poll_start(poll_, events, OnPoll);
    if (rc == 0) pollEvents_ = events;
    return rc;
  }

  static void OnPoll(uv_poll_t* handle, int status, int events) {
    TunHandle* self = static_cast<TunHandle*>(handle->data);
    if (self == nullptr || self->closed_) return;
    if (status < 0) {
      // libuv has already stopped the handle (POLLERR: e.g. the device was
      // deleted). Say so once; polling again would only repeat it.
      self->pollEvents_ = 0;
      self->reading_ = false;
      self->failed_ = true;
      self->writeDropped_ += self->queue_.size();
      self->queue_.clear();
      self->queuedBytes_ = 0;
      self->ReadBatch(-status);
      return;
    }
    if (events & UV_WRITABLE) {
      self->FlushQueue();
      self->UpdatePoll();
    }
    if ((events & UV_READABLE) && !self->closed_) self->ReadBatch(0);
  }

  void ReadBatch(int pollError) {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    Napi::ArrayBuffer arena = arenaRef_.Value();
    Napi::Uint32Array meta = metaRef_.Value();
    uint32_t count = 0;
    int err = pollError;
    if (arena.ByteLength() < kArenaBytes || meta.ElementLength() < kMaxBatch * kMetaStride) {
      err = EFAULT;  // someone detached our buffers: nowhere to read into
    } else if (err == 0) {
      uint8_t* base = static_cast<uint8_t*>(arena.Data());
      uint32_t* slots = meta.Data();
      size_t offset = 0;
      int interrupted = 0;
      while (count < kMaxBatch && kArenaBytes - offset >= kMaxRead) {
        ssize_t r = ::read(fd_, base + offset, kMaxRead);
        if (r < 0) {
          if (errno == EINTR && ++interrupted < kMaxEintrRetries) continue;
          if (errno != EAGAIN && errno != EWOULDBLOCK) err = errno;
          break;
        }
        if (r == 0) break;
        size_t start = offset;
        size_t len = static_cast<size_t>(r);
        uint32_t word = 0;
        if (vnetHdr_) {
          if (len < kVnetHdrLen) {
            ++readErrors_;
            continue;
          }
          word = OffloadFromVnetHdr(base + offset);
          start += kVnetHdrLen;
          len -= kVnetHdrLen;
        }
        slots[kMetaStride * count] = static_cast<uint32_t>(start);
        slots[kMetaStride * count + 1] = static_cast<uint32_t>(len);
        slots[kMetaStride * count + 2] = word;
        ++count;
        offset += static_cast<size_t>(r);
        bytesRead_ += static_cast<uint64_t>(len);
      }
      packetsRead_ += count;
    }
    if (err != 0) {
      ++readErrors_;
      reading_ = false;
      UpdatePoll();
    }
    if (count == 0 && err == 0) return;
    ++batches_;
    if (onRead_.IsEmpty()) return;

    // The local handle keeps the wrapper alive even if the callback closes
    // the device and drops the last reference to it.
    Napi::Object self = Value();
    Napi::Function fn = onRead_.Value();
    inCallback_ = true;
    fn.MakeCallback(self, {Napi::Number::New(env, count), Napi::Number::New(env, err)}, *asyncContext_);
    inCallback_ = false;
    if (closed_) ReleaseJsState();
    if (env.IsExceptionPending()) {
      // No JavaScript frame is below us: report it the way an exception in a
      // socket's 'data' handler is reported ('uncaughtException').
      Napi::Error e = env.GetAndClearPendingException();
      napi_fatal_exception(env, e.Value());
    }
  }

  void ReleaseJsState() {
    onRead_.Reset();
    asyncContext_.reset();
  }

  // fromJs: called from close() with a JavaScript scope, so references may be
  // released; otherwise (env teardown, destructor) only OS resources are.
  void Shutdown(bool fromJs) {
    closed_ = true;
    reading_ = false;
    writeDropped_ += queue_.size();
    queue_.clear();
    queuedBytes_ = 0;
    if (poll_ != nullptr) {
      // uv_close stops the poll (removing the fd from epoll) before the fd is
      // closed; the handle memory is freed in the close callback.
      poll_->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), OnHandleClosed);
      poll_ = nullptr;
      pollEvents_ = 0;
    }
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
    if (cleanupHook_) {
      napi_remove_env_cleanup_hook(Env(), OnEnvCleanup, this);
      cleanupHook_ = false;
    }
    if (fromJs) {
      if (!inCallback_) ReleaseJsState();
      if (pinned_) {
        pinned_ = false;
        Unref();
      }
    }
  }

  static void OnHandleClosed(uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); }

  static void OnEnvCleanup(void* arg) {
    TunHandle* self = static_cast<TunHandle*>(arg);
    self->cleanupHook_ = false;  // the hook is being consumed right now
    if (!self->closed_) self->Shutdown(false);
  }

  int fd_ = -1;
  uv_poll_t* poll_ = nullptr;
  int pollEvents_ = 0;
  bool closed_ = true;
  bool vnetHdr_ = false;
  bool failed_ = false;
  bool reading_ = false;
  bool inCallback_ = false;
  bool pinned_ = false;
  bool cleanupHook_ = false;

  Napi::FunctionReference onRead_;
  std::unique_ptr<Napi::AsyncContext> asyncContext_;
  Napi::Reference<Napi::ArrayBuffer> arenaRef_;
  Napi::Reference<Napi::Uint32Array> metaRef_;

  std::deque<std::vector<uint8_t>> queue_;
  size_t queuedBytes_ = 0;
  uint64_t blockWrites_ = 0;

  uint64_t packetsRead_ = 0;
  uint64_t bytesRead_ = 0;
  uint64_t batches_ = 0;
  uint64_t readErrors_ = 0;
  uint64_t packetsWritten_ = 0;
  uint64_t bytesWritten_ = 0;
  uint64_t writeQueued_ = 0;
  uint64_t writeDropped_ = 0;
  uint64_t writeErrors_ = 0;
};

Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AddonData* data = env.GetInstanceData<AddonData>();
  return data->ctor.New({info.Length() > 0 ? info[0] : env.Undefined()});
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  Napi::Function ctor = TunHandle::Define(env);
  data->ctor = Napi::Persistent(ctor);
  env.SetInstanceData<AddonData>(data);
  exports.Set("TunHandle", ctor);
  exports.Set("open", Napi::Function::New<Open>(env, "open"));
  exports.Set("maxBatch", Napi::Number::New(env, kMaxBatch));
  exports.Set("arenaBytes", Napi::Number::New(env, static_cast<double>(kArenaBytes)));
  exports.Set("maxQueuedPackets", Napi::Number::New(env, static_cast<double>(kMaxQueuedPackets)));
  exports.Set("metaStride", Napi::Number::New(env, kMetaStride));
  return exports;
}

}  // namespace

NODE_API_MODULE(tuntcp_tun, Init)
