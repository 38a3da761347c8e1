"""Views of the monitor's data: the terminal dashboard (`logctl status`) and the web page
the monitor serves at `/`."""
