/* sock.h - what the kernel says about an fd: is it a TCP socket, its addresses, inode and state.
 * Called by interpose, policy, reaper, snapshot and lifecycle. Callers wrap these in
 * CW_SAVE_ERRNO. getsockopt is interposed, but only parked fds are handled differently there, and
 * these are never asked about a parked fd. */
#ifndef CW_SOCK_H
#define CW_SOCK_H

#include <sys/socket.h>
#include "table.h"

/* Fill info for a TCP socket on fd that was just connected (peer sa) or accepted (sa may be
 * NULL). Returns 0, or -ENOTSOCK when fd is not an AF_INET/AF_INET6 stream socket (not asked
 * when known_tcp). The local address is left for cw_sock_local: it costs a system call that
 * only a report needs. */
CW_HIDDEN int cw_sock_probe(int fd, int dir, const struct sockaddr *sa, socklen_t salen,
                            int known_tcp, struct cw_conn_info *info);

/* The local address of fd (family 0 when it has none). */
CW_HIDDEN void cw_sock_local(int fd, struct cw_addr *a);

/* Fill info for an fd found open at start-up: a connected TCP socket (not a listener). The
 * direction is guessed from the local port (in the ephemeral range: out). */
CW_HIDDEN int cw_sock_probe_inherited(int fd, struct cw_conn_info *info);

/* Is fd an AF_INET/AF_INET6 stream socket? */
CW_HIDDEN int cw_sock_is_tcp(int fd);

/* The inode of whatever fd names, or 0. */
CW_HIDDEN uint64_t cw_sock_ino(int fd);

/* Has the connect of fd, a TCP socket, begun (its state is any but CLOSE)? 0 when not known. */
CW_HIDDEN int cw_sock_connecting(int fd);

/* Is fd, a TCP socket, known to be in state CLOSE (its connect failed, or it was never made)? */
CW_HIDDEN int cw_sock_connect_failed(int fd);

/* Bytes received on fd and not read yet (SIOCINQ), 0 when not known. */
CW_HIDDEN int cw_sock_unread(int fd);

/* TCP state of fd ("ESTABLISHED", "CLOSE_WAIT", ...), or "?" */
CW_HIDDEN const char *cw_sock_state(int fd);

/* The TCP state name for a kernel state number. */
CW_HIDDEN const char *cw_tcp_state_name(int state);

#endif
