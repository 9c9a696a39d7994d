"""Pure analysers over decoded arrays: no process, no I/O, memory flat however long the source."""
