/* mmsg_echo: the UDP floor of the transport bench.
 *
 * A single-threaded UDP echo server in plain C: one non-blocking socket on
 * level-triggered epoll; when it is readable, recvmmsg takes up to 64
 * datagrams, and sendmmsg sends every reply back to its sender in one call,
 * straight from the buffers they were received into.  A full batch is
 * followed by another; a short one means the socket is empty, so the loop
 * goes back to epoll_wait.  A reply the socket will not take is dropped, as
 * the network would drop it.  No allocation per datagram and one syscall
 * per batch each way: what a library costs over UDP is measured against it.
 *
 * Threads: mmsg_echo_run() runs the loop on the calling thread;
 * mmsg_echo_stop() may be called from any thread (it writes an eventfd). */
#ifndef CORONET_BENCH_MMSG_ECHO_H
#define CORONET_BENCH_MMSG_ECHO_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mmsg_echo mmsg_echo;

/* Binds a UDP socket on 127.0.0.1 on a free port.  NULL with errno set on
 * failure. */
mmsg_echo* mmsg_echo_create(void);

/* The port it is bound to. */
uint16_t mmsg_echo_port(const mmsg_echo* server);

/* Serves until mmsg_echo_stop().  0, or -1 with errno set if the loop
 * itself failed. */
int mmsg_echo_run(mmsg_echo* server);

/* Makes mmsg_echo_run() return; callable from any thread, more than once. */
void mmsg_echo_stop(mmsg_echo* server);

/* Frees everything; call after mmsg_echo_run() returned (or instead of it). */
void mmsg_echo_destroy(mmsg_echo* server);

#ifdef __cplusplus
}
#endif

#endif
