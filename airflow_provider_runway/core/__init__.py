"""The pure core of the Runway provider: every decision, no I/O, one concern a module.

=================  ===========================================================================
``defaults``       the constants an operator's signature names (tiny: DAG files import it)
``task``           statuses, the task object, both answer shapes, ``task_not_exist``
``outcome``        a finished task or a final event -> success or the exception that ends it
``settings``       an Airflow connection -> base URL, key, timeouts, headers
``urls``           every URL rule: base URLs, "plain http only to loopback", inputs, downloads,
                   data URIs, paths, redaction
``filetypes``      the one table of file types: extension -> media type, by kind
``fields``         the checks that hold for every request body, whatever the model
``exchange``       the sans-I/O request loop, the retry policy, "may this create have been billed?"
``kill``           may ``on_kill`` cancel the remote task, and what a failed DELETE means
``organization``   the organization endpoint: credit balance, "no such endpoint here"
=================  ===========================================================================

The hook's sync half (requests) and async half (aiohttp) both drive :func:`exchange.exchange`; the wait loop
(:mod:`airflow_provider_runway.polling`) is driven the same way by the trigger, the operator's synchronous
wait and the sensor. Nothing here opens a socket, reads a file or imports Airflow's heavy modules.
"""
