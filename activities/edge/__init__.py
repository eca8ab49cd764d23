"""Edge traffic shifters (ALB, Route 53, CloudFront) behind one interface, and their activities."""
