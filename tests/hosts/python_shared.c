/* python_shared.c - CPython's own program with the interpreter in libpython (DT_NEEDED), not in
 * the executable, as a shared build (--enable-shared) makes it. Runs as python3 does:
 * python_shared [python args...].
 * links: -l:libpython3.11.so.1.0
 */
extern int Py_BytesMain(int argc, char **argv);

int main(int argc, char **argv) { return Py_BytesMain(argc, argv); }
