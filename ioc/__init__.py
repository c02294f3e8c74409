"""IOC hub: settings, database, domain services, broker, HTTP/websocket API and the `ioc` command.

Importing `ioc` is cheap on purpose: the edge worker and the relay import the shared
contract in `ioc.common` without pulling in FastAPI or the database driver.
"""

__version__ = "0.1.0"
