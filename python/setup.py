# pip install ./python  (pure Python: ctypes and numpy; nothing is downloaded)
from setuptools import setup

setup(
    name="cnnc",
    version="0.1.0",
    description="Compile convolutional networks with cnnc and run them from Python",
    packages=["cnnc"],
    python_requires=">=3.9",
    install_requires=["numpy"],
)
