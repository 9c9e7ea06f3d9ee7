"""paperscope.web"""
