#define _GNU_SOURCE /* recvmmsg, sendmmsg */
#include "mmsg_echo.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
  batch = 64,
  largest_datagram = 65536, /* over IPv4 at most 65507 arrive, so nothing is cut */
  batches_per_wakeup = 16   /* then epoll_wait again, which also sees a stop */
};

struct mmsg_echo {
  int epoll_fd, socket_fd, wake_fd;
  uint16_t port;
  struct mmsghdr headers[batch];
  struct iovec parts[batch];
  struct sockaddr_storage senders[batch];
  unsigned char* buffers; /* batch * largest_datagram */
};

static int watch(struct mmsg_echo* s, int fd) {
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  return epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &ev);
}

/* Sends replies [first, n) in as few sendmmsg calls as the socket allows.
 * sendmmsg stops at the first datagram it cannot send and reports that
 * datagram's error on the next call: such a reply is dropped and the rest
 * go on; a full socket drops what is left. */
static void send_replies(struct mmsg_echo* s, int n) {
  int first = 0;
  while (first < n) {
    int sent = sendmmsg(s->socket_fd, s->headers + first, (unsigned)(n - first), MSG_DONTWAIT);
    if (sent > 0)
      first += sent;
    else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
      return;
    else if (errno != EINTR)
      ++first;
  }
}

/* Echoes what the socket holds, a batch at a time.  0, or -1 with errno set
 * if the socket failed. */
static int echo_batches(struct mmsg_echo* s) {
  int round, i;
  for (round = 0; round < batches_per_wakeup; ++round) {
    int n;
    for (i = 0; i < batch; ++i) {
      struct msghdr* h = &s->headers[i].msg_hdr;
      s->parts[i].iov_base = s->buffers + (size_t)i * largest_datagram;
      s->parts[i].iov_len = largest_datagram;
      h->msg_name = &s->senders[i];
      h->msg_namelen = sizeof s->senders[i];
      h->msg_iov = &s->parts[i];
      h->msg_iovlen = 1;
      h->msg_control = NULL;
      h->msg_controllen = 0;
      h->msg_flags = 0;
    }
    n = recvmmsg(s->socket_fd, s->headers, batch, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      if (errno == EINTR || errno == ECONNREFUSED) continue; /* a stray ICMP error */
      return -1;
    }
    /* Each reply goes back where its request came from (msg_name, as
     * received), with the length received. */
    for (i = 0; i < n; ++i) s->parts[i].iov_len = s->headers[i].msg_len;
    send_replies(s, n);
    if (n < batch) return 0;
  }
  return 0;
}

mmsg_echo* mmsg_echo_create(void) {
  struct sockaddr_in addr;
  socklen_t len = sizeof addr;
  int saved;
  struct mmsg_echo* s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->epoll_fd = s->socket_fd = s->wake_fd = -1;
  s->buffers = malloc((size_t)batch * largest_datagram);
  if (!s->buffers) goto fail;
  s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  s->socket_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s->epoll_fd < 0 || s->wake_fd < 0 || s->socket_fd < 0) goto fail;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(s->socket_fd, (struct sockaddr*)&addr, sizeof addr) != 0) goto fail;
  if (getsockname(s->socket_fd, (struct sockaddr*)&addr, &len) != 0) goto fail;
  s->port = ntohs(addr.sin_port);
  if (watch(s, s->socket_fd) != 0 || watch(s, s->wake_fd) != 0) goto fail;
  return s;
fail:
  saved = errno;
  mmsg_echo_destroy(s);
  errno = saved;
  return NULL;
}

uint16_t mmsg_echo_port(const mmsg_echo* s) { return s->port; }

int mmsg_echo_run(mmsg_echo* s) {
  struct epoll_event events[2];
  for (;;) {
    int i, n = epoll_wait(s->epoll_fd, events, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    for (i = 0; i < n; ++i) {
      if (events[i].data.fd == s->wake_fd) return 0;
      if (echo_batches(s) != 0) return -1;
    }
  }
}

void mmsg_echo_stop(mmsg_echo* s) {
  uint64_t one = 1;
  ssize_t ignored = write(s->wake_fd, &one, sizeof one); /* EAGAIN: already signalled */
  (void)ignored;
}

void mmsg_echo_destroy(mmsg_echo* s) {
  if (!s) return;
  if (s->socket_fd >= 0) close(s->socket_fd);
  if (s->wake_fd >= 0) close(s->wake_fd);
  if (s->epoll_fd >= 0) close(s->epoll_fd);
  free(s->buffers);
  free(s);
}
