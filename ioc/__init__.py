"""IOC hub: settings, database, domain services, broker, HTTP/websocket API and the `ioc` command.

Importing `ioc` is cheap on purpose. What the processes share lives in the top-level
package `contract`, not here.
"""

__version__ = "0.1.0"
