"""The dynamic symbols an ELF64 shared library exports (enough to find a cnnc
library's network name without running anything)."""
import struct

SHT_DYNSYM = 11


def exported_symbols(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError(f"{path}: not a little-endian 64-bit ELF shared library")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    names = []
    for _, kind, _, _, offset, size, link, _, _, entsize in sections:
        if kind != SHT_DYNSYM or not entsize:
            continue
        strtab_offset = sections[link][4]
        for pos in range(offset, offset + size, entsize):
            name_offset, info, _, shndx = struct.unpack_from("<IBBH", data, pos)
            if shndx == 0 or info >> 4 == 0:  # undefined, or local
                continue
            end = data.index(b"\0", strtab_offset + name_offset)
            names.append(data[strtab_offset + name_offset:end].decode())
    return names
