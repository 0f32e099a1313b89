"""A cnnc library loaded with ctypes for the test scripts (no torch needed).

    lib, f = load_model("lenet5.so", "lenet5")   # f("infer") is lenet5_infer
"""
import ctypes


def load_model(so_path, name):
    """The library and a lookup of its <name>_* functions, with the common signatures set."""
    lib = ctypes.CDLL(so_path)
    f = lambda n: getattr(lib, f"{name}_{n}")
    f("create").restype = ctypes.c_void_p
    f("last_error").restype = ctypes.c_char_p
    f("load_weights").argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    f("save_weights").argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    f("infer").argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    f("destroy").argtypes = [ctypes.c_void_p]
    f("output_size").restype = ctypes.c_int
    return lib, f
