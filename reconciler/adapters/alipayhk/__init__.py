"""AlipayHK iPass adapter: signing, keys, RSA_AES encryption and a bounded HTTP client.

Import the submodules directly (`signing`, `keys`, `encryption`, `client`, ...). This package
itself imports nothing, so code that only needs the domain never loads `requests` or
`cryptography` by accident.
"""
