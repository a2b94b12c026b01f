"""The field check's report (an adapter): a self-contained HTML page and a PDF, in English
and Simplified Chinese, drawn from one check's values.

Libraries (the ``report`` extra): matplotlib draws the charts as SVG, fontTools cuts the
embedded CJK face down to the characters used, WeasyPrint prints the same HTML to PDF.
"""
