// datagram_load: the load generator's UDP mode (wire_framing::datagram).
//
// One thread, level-triggered epoll, as for streams.  Each of `connections`
// peers is its own UDP socket connected to the server, so the kernel hands
// it only the server's datagrams; each keeps `in_flight` datagrams of
// `message_size` bytes outstanding, one message per datagram.  When the echo
// of one comes back, the next is sent at once.
//
// Checking: datagram `seq` of peer `id` starts with the peer's id (u32) and
// the sequence number (u64), little-endian, followed by a window of the
// payload pattern chosen by (id, seq).  Every echo is checked whole: its
// size, the peer it names, a sequence number that was sent, and every byte
// against what was sent.  A wrong echo, a second echo of a datagram already
// echoed, or a socket error (the server's port unreachable) is an error: it
// is counted, the first is described, and that peer stops.
//
// Loss: a datagram whose echo is not back loss_timeout after it was sent is
// counted lost and replaced by the next datagram, so a lost datagram never
// stalls a peer and the run never hangs.  (A datagram the generator's own
// socket refused, full, is lost the same way.)  An echo that arrives after
// its datagram was counted lost is checked, then ignored and counted as
// late.  The loss reported is the share of the datagrams sent during the
// measured interval that were counted lost, whenever that was decided:
// the drain waits for their fate.
//
// Latency and timeline are as for streams: from just before a datagram is
// sent to the moment its echo is read; connect, warm-up, measured interval,
// drain (no new datagrams; each outstanding one is echoed or counted lost),
// close.
#pragma once

#include "load_generator.hpp"

/// Runs the whole timeline for `config` (whose framing is datagram).
load_report run_datagram_load(const load_config& config);
