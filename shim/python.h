/* python.h - the Python stack where a CPython host opens a connection. Every CPython function is
 * looked up at run time (dlsym): the library has no build-time or link-time tie to Python, and a
 * host without the interpreter is untouched. Safety rules, kept in python.c:
 *  - The calling thread's own frames are read with CPython's traceback dumper (the one faulthandler
 *    uses in signal handlers: no lock, no allocation, no Python code), and only while they cannot
 *    be freed under it: on a thread that holds the interpreter lock, or on the main thread, and
 *    never before the interpreter initialised or once it began to finalise.
 *  - Python objects are touched (to follow an asyncio task to the task that awaits it) only by a
 *    thread that holds the interpreter lock: inside the audit hook, or in a wrapper the runtime
 *    called with the lock held (uvloop's connect). The lock is never taken by the library. */
#ifndef CW_PYTHON_H
#define CW_PYTHON_H

#include <stddef.h>
#include <sys/types.h>
#include "table.h"

/* Start-up, once the table is mapped: find the interpreter; when backtraces name the language
 * stack, reserve the sink's slot and install the audit hook before the interpreter starts. */
CW_HIDDEN void cw_py_init(void);

/* Is the interpreter finalising? Its teardown closes the sockets that modules still hold, which
 * the leak check counts as open at exit. Any thread; no lock. */
CW_HIDDEN int cw_py_finalizing(void);
/* In a fork child (from the atfork handler): the forking thread is the child's main thread. */
CW_HIDDEN void cw_py_fork_child(void);

/* The Python stack for a connection on fd opened now by the calling thread: the one the audit
 * hook took for this connect, or one read now where that is safe. NULL when there is none (not
 * a CPython host, no Python frame, not safe here): the caller falls back to native frames. */
CW_HIDDEN struct cw_bt *cw_py_capture(int fd);

/* The accept wrapper made a connection on fd whose Python stack it could not read (a thread
 * that released the interpreter lock): the audit event of the socket object CPython makes for it
 * next, in this thread, reads it instead. Returns 1 when that will happen (the native stack is
 * not worth taking then), 0 when the host is not such a Python. */
CW_HIDDEN int cw_py_note_accept(int fd);

/* The write() wrapper calls this for a write to the reserved fd number CW_PY_SINK_FD, whose slot
 * holds the sentinel record cw_py_sink while Python stacks are on (the number is at or above the
 * hard fd limit, so no file has it). While this thread reads its stack, the bytes are the dumper's: they are
 * kept and n is returned. Otherwise -1: the kernel's EBADF stands. */
#define CW_PY_SINK_FD ((int)(CW_SLOTS / 2 - 1))
extern CW_HIDDEN struct cw_conn cw_py_sink;
CW_HIDDEN ssize_t cw_py_sink_write(const void *buf, size_t n);

/* ---- pieces with no runtime in them, for tests ---- */

/* Parse the dumper's text ("  File \"F\", line N in FUNC" lines, innermost first) into a stack
 * of at most CW_PY_MAX frames "F:N in FUNC", classified (cw_py_classify). NULL when it names no
 * frame or memory is short. */
CW_HIDDEN struct cw_bt *cw_py_parse(const char *text, size_t len);

/* Is the frame ("file:line in func") an installed library's or the standard library's? */
CW_HIDDEN int cw_py_is_lib(const char *frame);

/* Set bt->lib, bt->own and CW_BT_NO_CALLER. Frames from the first of asyncio's loop-running
 * frames on belong to whoever runs the loop, not to the code that asked for the connection; the
 * awaiting task's frames (from bt->join) do. own is the program's innermost frame among those;
 * when there is none, the stack lacks its caller (NO_CALLER) and own is the program's innermost
 * frame anywhere, if any. */
CW_HIDDEN void cw_py_classify(struct cw_bt *bt);

/* The i-th Python frame's text. */
CW_HIDDEN const char *cw_py_frame(const struct cw_bt *bt, int i);

#endif
